from __future__ import annotations

import json
import logging

import pytest

from cryptostats.logs import REDACTED, JsonFormatter, log_context, redact_secret


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("some.logger", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_a_line_is_one_json_object() -> None:
    line = JsonFormatter().format(record("hello %s\nworld", "there", event="x", count=3))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello there\nworld"
    assert entry["level"] == "WARNING" and entry["logger"] == "some.logger"
    assert entry["event"] == "x" and entry["count"] == 3
    assert entry["time"].endswith("Z") and isinstance(entry["pid"], int)


def test_context_fields_are_added() -> None:
    token = log_context.set({"request_id": "abc"})
    try:
        entry = json.loads(JsonFormatter().format(record("x")))
    finally:
        log_context.reset(token)
    assert entry["request_id"] == "abc"
    assert "request_id" not in json.loads(JsonFormatter().format(record("x")))


def test_exceptions_are_kept_on_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("l", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        rec.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exception"]


def test_secrets_are_redacted_wherever_they_appear() -> None:
    secret = 'CG-unit-test-key-"quoted"-1234'
    redact_secret(secret)
    line = JsonFormatter().format(record("key is %s", secret, header={"x-cg-demo-api-key": secret}))
    assert secret not in line and json.dumps(secret)[1:-1] not in line
    assert "unit-test-key" not in line
    assert json.loads(line)["message"] == f"key is {REDACTED}"


UNSAFE = [
    "\u2028",  # line separator: a line break to JavaScript and many log viewers
    "\u2029",  # paragraph separator
    "\u0085",  # NEL, a C1 control and a line break to some tools
    "\u009b",  # CSI, the C1 form of ESC [: drives terminals
    "\x7f",  # DEL
    "\x1b",  # ESC (json escapes C0 already: kept escaped)
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero width space
    "\ufeff",  # byte order mark
    "\u00a0",  # no-break space
    "\U000e0041",  # tag latin capital A (invisible)
]


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_separator_characters_are_escaped(char: str) -> None:
    path = f"/api/x{char}y"
    line = JsonFormatter().format(record("GET %s", path, path=path))
    assert char not in line
    assert all(ch.isprintable() and ch not in "\u2028\u2029" for ch in line)
    entry = json.loads(line)
    assert entry["path"] == path and entry["message"] == f"GET {path}"


def test_other_non_ascii_stays_readable() -> None:
    line = JsonFormatter().format(record("price of ₿itcoin in €, 日本"))
    assert "₿itcoin in €, 日本" in line
