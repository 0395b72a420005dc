"""cryptostats_dev.stack without children: .env, broker choice, start-up refusals, main()."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from cryptostats_dev.brokers import EmbeddedBroker
from cryptostats_dev.stack import (
    Console,
    StackError,
    choose_broker,
    load_dotenv,
    parse_dotenv,
    redact_url,
    start_broker,
)
from tests.stack_standins import fake_server, make_stack

__all__ = ["fake_server"]  # a fixture, used by name


def test_parse_dotenv_reads_pairs_and_skips_comments() -> None:
    text = """
# a comment
REDIS_CHANNEL=crypto.update
export API_PORT = 3001
COINGECKO_API_KEY="quoted # not a comment"
LOG_LEVEL=DEBUG # trailing comment
MONGO_URI=
"""
    assert parse_dotenv(text) == {
        "REDIS_CHANNEL": "crypto.update",
        "API_PORT": "3001",
        "COINGECKO_API_KEY": "quoted # not a comment",
        "LOG_LEVEL": "DEBUG",
        "MONGO_URI": "",
    }


def test_parse_dotenv_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_dotenv("A=1\nnot a pair\n")


def test_load_dotenv_never_overrides_a_set_variable(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("API_PORT=4000\nLOG_LEVEL=DEBUG\nREDIS_URL=redis://x:1/0\nMONGO_URI=\n")
    environ = {"API_PORT": "5000", "LOG_LEVEL": "  ", "MONGO_URI": "mongodb://m"}
    assert load_dotenv(dotenv, environ) == ["LOG_LEVEL", "REDIS_URL"]
    assert environ == {
        "API_PORT": "5000",
        "LOG_LEVEL": "DEBUG",
        "REDIS_URL": "redis://x:1/0",
        "MONGO_URI": "mongodb://m",
    }


def test_load_dotenv_without_a_file_changes_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert load_dotenv(tmp_path / ".env", environ) == []
    assert environ == {}


def test_load_dotenv_reports_a_malformed_file_as_a_config_error(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("oops\n")
    with pytest.raises(StackError, match="line 1") as caught:
        load_dotenv(dotenv, {})
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://user:s3cret@host:6380", "rediss://user:***@host:6380"),
        ("redis://s3cret@host:6379", "redis://***@host:6379"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_choose_broker_prefers_the_environment_then_redis_server() -> None:
    installed = {"redis-server": "/usr/bin/redis-server"}.get
    assert choose_broker({"REDIS_URL": "redis://r:6379/0"}, installed) == "environment"
    assert choose_broker({"REDIS_URL": " "}, installed) == "redis-server"
    assert choose_broker({}, installed) == "redis-server"
    assert choose_broker({}, lambda _name: None) == "embedded"


def test_start_broker_from_the_environment_does_not_print_the_password() -> None:
    output = io.StringIO()
    broker = start_broker("environment", {"REDIS_URL": "redis://:s3cret@r:6379"}, Console(output))
    assert broker is None
    assert "using REDIS_URL from the environment" in output.getvalue()
    assert "s3cret" not in output.getvalue()


@pytest.mark.timeout(30)
def test_start_broker_embedded_warns_loudly() -> None:
    output = io.StringIO()
    broker = start_broker("embedded", {}, Console(output))
    try:
        assert isinstance(broker, EmbeddedBroker)
        assert "WARNING" in output.getvalue()
        assert "development only" in output.getvalue()
    finally:
        assert broker is not None
        broker.stop()


@pytest.mark.timeout(30)
def test_a_busy_api_port_fails_fast(fake_server: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack, output = make_stack(fake_server, API_PORT=str(port))
        assert stack.run() == 2
    assert f"API port {port} on 127.0.0.1 is already in use" in output.getvalue()
    assert stack.children == []


def test_a_bad_setting_fails_before_anything_starts(fake_server: Path) -> None:
    stack, output = make_stack(fake_server, UPDATE_INTERVAL_SECONDS="soon")
    assert stack.run() == 2
    assert "configuration error: UPDATE_INTERVAL_SECONDS" in output.getvalue()
    assert stack.children == []


class RecordingStack:
    """Stands in for Stack in main(): records what it was given, runs nothing."""

    seen: dict[str, object] = {}

    def __init__(self, *, environ: dict[str, str], demo: bool, **_kwargs: object) -> None:
        RecordingStack.seen = {"environ": environ, "demo": demo}

    def run(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("argv", "shell", "interval"),
    [
        ([], {}, "900"),
        (["--demo"], {}, "10"),
        (["--demo"], {"UPDATE_INTERVAL_SECONDS": "30"}, "30"),
    ],
)
def test_main_layers_shell_then_demo_then_dotenv(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    shell: dict[str, str],
    interval: str,
) -> None:
    from cryptostats_dev import stack as stack_module

    (tmp_path / ".env").write_text("UPDATE_INTERVAL_SECONDS=900\nREDIS_CHANNEL=from.dotenv\n")
    monkeypatch.setattr(stack_module, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(stack_module, "Stack", RecordingStack)
    monkeypatch.delenv("UPDATE_INTERVAL_SECONDS", raising=False)
    monkeypatch.delenv("REDIS_CHANNEL", raising=False)
    for key, value in shell.items():
        monkeypatch.setenv(key, value)
    assert stack_module.main(argv) == 0
    environ = RecordingStack.seen["environ"]
    assert isinstance(environ, dict)
    assert environ["UPDATE_INTERVAL_SECONDS"] == interval
    assert environ["REDIS_CHANNEL"] == "from.dotenv"
    assert RecordingStack.seen["demo"] == bool(argv)
