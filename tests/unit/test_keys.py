"""API keys: random, stored only hashed, never echoed; the admin key from env or file; the CLI."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import mongomock
import pytest

from api_server import keys_cli
from api_server.access_config import AccessSettings, load_access_or_exit
from api_server.keys import KeyStore, same_token, token_hash
from cryptostats.errors import ConfigError
from cryptostats.logs import JsonFormatter
from tests.unit.actions_harness import ADMIN_KEY, ActionsApp, build


def test_keys_are_random_and_stored_only_as_their_hash() -> None:
    database = mongomock.MongoClient()["x"]
    store = KeyStore(database)
    tokens = {store.create(f"k{i}")[1] for i in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", token) for token in tokens)
    stored = json.dumps(list(database["api_keys"].find()), default=str)
    assert not any(token in stored for token in tokens)
    assert all(token_hash(token) in stored for token in tokens)


def test_find_and_revoke() -> None:
    store = KeyStore(mongomock.MongoClient()["x"])
    key, token = store.create("alice")
    assert store.find(token) == key
    assert store.find(token + "x") is None
    assert [k.id for k in store.list()] == [key.id]
    assert store.revoke(key.id) is True
    assert store.find(token) is None
    assert store.revoke(key.id) is False


def test_same_token() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("abc", "abcd")


def test_a_created_key_is_shown_once_and_never_listed(caplog: pytest.LogCaptureFixture) -> None:
    actions = build()
    caplog.set_level(logging.DEBUG)
    key_id, key = actions.new_key("alice")
    listed = actions.call("GET", "/api/keys", key=ADMIN_KEY)
    assert listed.headers["Cache-Control"] == "no-store"
    assert key not in listed.get_data(as_text=True)
    assert [k["id"] for k in listed.get_json()["keys"]] == [key_id]
    assert actions.call("GET", "/api/watchlist", key=key).status_code == 200
    for path in ("/api/status", "/metrics", "/ready"):
        text = actions.call("GET", path).get_data(as_text=True)
        assert key not in text and ADMIN_KEY not in text
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert key not in logged and ADMIN_KEY not in logged


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "ok"}, 201),
        ({"name": ""}, 400),
        ({"name": "x" * 101}, 400),
        ({"name": 3}, 400),
        ({"name": "ok", "role": "root"}, 400),
        (["name"], 400),
        ("not json", 400),
    ],
)
def test_create_key_validates_its_body(body: Any, status: int) -> None:
    actions = build()
    data = body if isinstance(body, str) else json.dumps(body)
    resp = actions.call("POST", "/api/keys", key=ADMIN_KEY, data=data)
    assert resp.status_code == status
    assert resp.mimetype == "application/json"


def test_revoking_an_unknown_key_is_a_404() -> None:
    resp = build().call("DELETE", "/api/keys/nope", key=ADMIN_KEY)
    assert resp.status_code == 404
    assert resp.get_json()["error"]


def test_admin_key_from_a_file_is_redacted(tmp_path: Path) -> None:
    path = tmp_path / "admin"
    path.write_text("from-file-admin-key-0123456789abcdef\n")
    settings = AccessSettings.from_env({"ADMIN_API_KEY_FILE": str(path)})
    assert settings.admin_api_key == "from-file-admin-key-0123456789abcdef"
    assert "from-file" not in repr(settings)
    record = logging.LogRecord(
        "t", logging.INFO, "", 0, "key is %s", (settings.admin_api_key,), None
    )
    assert "from-file" not in JsonFormatter().format(record)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ADMIN_API_KEY": "short"}, "ADMIN_API_KEY"),
        ({"ADMIN_API_KEY": "has spaces in it but is long enough"}, "ADMIN_API_KEY"),
        ({"ADMIN_API_KEY_FILE": "/nonexistent/admin"}, "ADMIN_API_KEY_FILE"),
        ({"ADMIN_API_KEY": ADMIN_KEY, "ADMIN_API_KEY_FILE": "/x"}, "ADMIN_API_KEY_FILE"),
        ({"ANONYMOUS_WRITES": "everyone"}, "ANONYMOUS_WRITES"),
        ({"REFRESH_MIN_SECONDS": "0"}, "REFRESH_MIN_SECONDS"),
        ({"REFRESH_MIN_SECONDS": "soon"}, "REFRESH_MIN_SECONDS"),
        ({"RATE_LIMIT_WRITES": "lots"}, "RATE_LIMIT_WRITES"),
        ({"RATE_LIMIT_READS": "5 per fortnight"}, "RATE_LIMIT_READS"),
    ],
)
def test_bad_access_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AccessSettings.from_env(env)
    assert caught.value.variable == variable


def test_access_defaults() -> None:
    settings = AccessSettings.from_env({})
    assert settings.anonymous_writes == "local"
    assert settings.refresh_min_seconds == 60
    assert settings.rate_limit_writes == "10/minute;100/hour"
    assert settings.rate_limit_ask == "30/minute"
    assert settings.rate_limit_reads == ""
    assert AccessSettings.from_env({"RATE_LIMIT_WRITES": "off"}).rate_limit_writes == ""


class Answer:
    """The parts of a requests.Response the CLI reads."""

    def __init__(self, resp: Any) -> None:
        self.status_code = resp.status_code
        self.text = resp.get_data(as_text=True)
        self._json = resp.get_json(silent=True)

    def json(self) -> Any:
        return self._json


class FlaskSession:
    """requests.Session's calls, answered by a Flask test client (the CLI talks HTTP)."""

    def __init__(self, actions: ActionsApp) -> None:
        self.actions = actions

    def _call(self, method: str, url: str, **kw: Any) -> Any:
        path = url.split("://", 1)[1].split("/", 1)[1]
        kw.pop("timeout")
        return Answer(self.actions.client.open("/" + path, method=method, **kw))

    def post(self, url: str, **kw: Any) -> Any:
        return self._call("POST", url, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self._call("GET", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self._call("DELETE", url, **kw)


def test_the_cli_creates_lists_and_revokes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    actions = build()
    session = FlaskSession(actions)
    monkeypatch.setenv("ADMIN_API_KEY", ADMIN_KEY)
    monkeypatch.delenv("ADMIN_API_KEY_FILE", raising=False)
    assert keys_cli.main(["create", "ops laptop"], session=session) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "ops laptop" and created["key"].startswith("cs_")
    assert actions.call("GET", "/api/watchlist", key=created["key"]).status_code == 200
    assert keys_cli.main(["list"], session=session) == 0
    listing = capsys.readouterr().out
    assert created["id"] in listing and created["key"] not in listing
    assert keys_cli.main(["revoke", created["id"]], session=session) == 0
    assert actions.call("GET", "/api/watchlist", key=created["key"]).status_code == 401
    assert keys_cli.main(["revoke", created["id"]], session=session) == 1
    assert "404" in capsys.readouterr().err


def test_the_cli_needs_the_admin_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    monkeypatch.delenv("ADMIN_API_KEY_FILE", raising=False)
    assert keys_cli.main(["list"], session=object()) == 2
    assert "ADMIN_API_KEY" in capsys.readouterr().err


def test_a_bad_access_setting_stops_the_api_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANONYMOUS_WRITES", "everyone")
    with pytest.raises(SystemExit) as stopped:
        load_access_or_exit()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("configuration error: ANONYMOUS_WRITES:")
