from __future__ import annotations

import json
import logging

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
