"""The authorisation table of the README, walked row by row, and the bearer parsing under it."""

from __future__ import annotations

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from api_server.app_state import state_of
from api_server.auth import is_loopback
from tests.unit.actions_harness import ADMIN_KEY, REMOTE, ActionsApp, build

CALLERS = ("none-local", "none-remote", "malformed", "unknown", "revoked", "user", "admin")

# (method, path, body) -> expected status per caller, in CALLERS order. `{own}` is the caller's
# own key id; `{other}` another user's key id.
TABLE = [
    ("GET", "/api/stats?coin=bitcoin", None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/coins", None, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/refresh", None, (200, 200, 200, 200, 200, 200, 200)),
    ("POST", "/api/refresh", None, (200, 401, 401, 401, 401, 200, 200)),
    ("POST", "/trigger-update", None, (200, 401, 401, 401, 401, 200, 200)),
    ("POST", "/api/ask", {"query": "price of bitcoin"}, (200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/coins?watchlist=true", None, (401, 401, 401, 401, 401, 200, 200)),
    ("GET", "/api/watchlist", None, (401, 401, 401, 401, 401, 200, 200)),
    ("PUT", "/api/watchlist/bitcoin", None, (401, 401, 401, 401, 401, 200, 200)),
    ("DELETE", "/api/watchlist/bitcoin", None, (401, 401, 401, 401, 401, 204, 204)),
    ("GET", "/api/keys", None, (401, 401, 401, 401, 401, 403, 200)),
    ("POST", "/api/keys", {"name": "new"}, (401, 401, 401, 401, 401, 403, 201)),
    ("DELETE", "/api/keys/{other}", None, (401, 401, 401, 401, 401, 403, 204)),
    ("POST", "/api/alerts", {"coin": "bitcoin", "above": 1}, (201, 401, 401, 401, 401, 201, 201)),
    ("GET", "/api/alerts", None, (200, 401, 401, 401, 401, 200, 200)),
    ("GET", "/api/alerts/events", None, (200, 401, 401, 401, 401, 200, 200)),
    (
        "POST",
        "/set-alert",
        {"coin": "bitcoin", "upperThreshold": 1},
        (200, 401, 401, 401, 401, 200, 200),
    ),
    ("GET", "/check-alerts", None, (200, 401, 401, 401, 401, 200, 200)),
]


@pytest.fixture
def actions() -> ActionsApp:
    return build()


def caller_request(actions: ActionsApp, caller: str) -> dict[str, object]:
    """The key, header and address of a caller (keys created fresh for each row)."""
    if caller == "none-local":
        return {}
    if caller == "none-remote":
        return {"addr": REMOTE}
    if caller == "malformed":
        return {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}
    if caller == "unknown":
        return {"key": "cs_" + "x" * 43}
    if caller == "revoked":
        key_id, key = actions.new_key("to revoke")
        assert actions.call("DELETE", f"/api/keys/{key_id}", key=ADMIN_KEY).status_code == 204
        return {"key": key}
    if caller == "user":
        return {"key": actions.new_key("user")[1]}
    return {"key": ADMIN_KEY}


@pytest.mark.parametrize(("method", "path", "body", "expected"), TABLE)
def test_the_authorisation_table(
    actions: ActionsApp, method: str, path: str, body: object, expected: tuple[int, ...]
) -> None:
    for caller, status in zip(CALLERS, expected, strict=True):
        other_id, _ = actions.new_key("someone else")
        kwargs = caller_request(actions, caller)
        resp = actions.call(method, path.format(other=other_id), json=body, **kwargs)  # type: ignore[arg-type]
        assert resp.status_code == status, (caller, method, path, resp.get_json())
        if status == 401:
            assert resp.get_json()["error"]
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        if status >= 400:
            assert resp.mimetype == "application/json"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "bearer a b", "Token abc", "Bearer \x7fabc", "Bearer " + "a" * 300, ""],
)
def test_a_malformed_header_is_a_401_where_a_key_is_read(actions: ActionsApp, header: str) -> None:
    resp = actions.call("GET", "/api/watchlist", headers={"Authorization": header})
    assert resp.status_code == 401
    assert "Authorization" in resp.get_json()["error"] or "key" in resp.get_json()["error"]


def test_the_scheme_is_case_insensitive(actions: ActionsApp) -> None:
    resp = actions.call("GET", "/api/keys", headers={"Authorization": f"bearer {ADMIN_KEY}"})
    assert resp.status_code == 200


def test_a_user_never_sees_another_users_watchlist(actions: ActionsApp) -> None:
    _, alice = actions.new_key("alice")
    _, bob = actions.new_key("bob")
    assert actions.call("PUT", "/api/watchlist/bitcoin", key=alice).status_code == 200
    assert actions.call("GET", "/api/watchlist", key=bob).get_json() == {"coins": []}
    coins = actions.call("GET", "/api/coins?watchlist=true", key=bob).get_json()
    assert coins == {"coins": [], "count": 0}
    # Bob deleting "his" bitcoin leaves Alice's alone.
    assert actions.call("DELETE", "/api/watchlist/bitcoin", key=bob).status_code == 204
    assert actions.call("GET", "/api/watchlist", key=alice).get_json() == {"coins": ["bitcoin"]}


def test_a_user_key_cannot_revoke_another_key(actions: ActionsApp) -> None:
    alice_id, alice = actions.new_key("alice")
    bob_id, bob = actions.new_key("bob")
    assert actions.call("DELETE", f"/api/keys/{alice_id}", key=bob).status_code == 403
    assert actions.call("GET", "/api/watchlist", key=alice).status_code == 200


def test_a_created_admin_key_is_an_admin(actions: ActionsApp) -> None:
    _, admin2 = actions.new_key("second admin", role="admin")
    assert actions.call("GET", "/api/keys", key=admin2).status_code == 200


def test_revocation_is_seen_at_once_by_another_process() -> None:
    first = build()
    second = build(database=first.database)  # another process on the same MongoDB
    key_id, key = first.new_key("shared")
    assert second.call("GET", "/api/watchlist", key=key).status_code == 200
    assert first.call("DELETE", f"/api/keys/{key_id}", key=ADMIN_KEY).status_code == 204
    assert second.call("GET", "/api/watchlist", key=key).status_code == 401


@pytest.mark.parametrize(
    ("policy", "local", "remote"), [("local", 200, 401), ("none", 401, 401), ("any", 200, 200)]
)
def test_the_write_policy_setting(policy: str, local: int, remote: int) -> None:
    actions = build(access={"ANONYMOUS_WRITES": policy})
    assert actions.call("POST", "/api/refresh").status_code == local
    assert actions.call("POST", "/api/refresh", addr=REMOTE).status_code == remote


def test_local_anonymous_writes_work_without_an_admin_key() -> None:
    actions = build(access={"ADMIN_API_KEY": ""})
    assert actions.call("POST", "/trigger-update").status_code == 200
    assert actions.call("POST", "/trigger-update", addr=REMOTE).status_code == 401
    assert actions.call("GET", "/api/keys", key="cs_" + "y" * 43).status_code == 401


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("172.17.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("", False),
        (None, False),
        ("not an ip", False),
    ],
)
def test_is_loopback(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_a_store_failure_while_reading_a_key_is_a_json_503(
    actions: ActionsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = actions.new_key()
    keys = state_of(actions.app).access.keys  # type: ignore[union-attr]

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ServerSelectionTimeoutError("no server")

    monkeypatch.setattr(keys.collection, "find_one", unreachable)
    resp = actions.call("GET", "/api/watchlist", key=key)
    assert resp.status_code == 503
    assert resp.get_json() == {"error": "data store unavailable (ServerSelectionTimeoutError)"}
    assert actions.call("GET", "/api/stats?coin=bitcoin", key=key).status_code == 200


def test_a_forwarded_for_header_does_not_make_a_remote_client_local(actions: ActionsApp) -> None:
    # Only a trusted proxy (ProxyFix, configured by the deployment) may change remote_addr.
    headers = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}
    resp = actions.call("POST", "/trigger-update", addr=REMOTE, headers=headers)
    assert resp.status_code == 401
