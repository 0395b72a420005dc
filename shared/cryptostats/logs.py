"""Logging set-up shared by both processes: one JSON object per line on stderr.

Every line has `time`, `level`, `logger`, `pid` and `message`, then the fields of the current
log context (the API puts the request id there for the length of a request) and any `extra`
fields of the call. Registered secrets (the CoinGecko key) are replaced by `[redacted]` in the
finished line, whatever part of it they slipped into. Other non-ASCII text stays readable, but
every control or separator character (C0/C1 controls, U+2028/2029, bidi overrides, zero-width
and non-ASCII spaces) is written as a `\\uXXXX` escape, so a value from a request cannot break
or disguise a line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
"""What a secret is replaced by in log lines."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not treated as secrets (redacting 'a' would garble every line)."""

log_context: ContextVar[Mapping[str, Any] | None] = ContextVar("log_context", default=None)
"""Fields added to every line logged in the current context (thread or task)."""

# The logging system is process-wide, and so is the set of values it must never print.
_secrets: set[str] = set()

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


_NOT_PLAIN_ASCII = re.compile(r"[^\x20-\x7e]")
"""Candidates for escaping: everything but printable ASCII (json.dumps escaped C0 already)."""


def _escape_unsafe(match: re.Match[str]) -> str:
    char = match.group()
    # C*: controls (C0, DEL, C1), format (bidi overrides, zero-width), surrogates, private use,
    # unassigned. Z*: line and paragraph separators and every space but the ASCII one.
    if unicodedata.category(char)[0] not in "CZ":
        return char
    units = char.encode("utf-16-be", "surrogatepass")  # a pair of units beyond U+FFFF
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def escape_unsafe(line: str) -> str:
    """Escape, as JSON \\u sequences, every control and separator character in a JSON line."""
    if line.isascii() and "\x7f" not in line:
        return line
    return _NOT_PLAIN_ASCII.sub(_escape_unsafe, line)


def redact_secret(value: str) -> None:
    """Never print this value in a log line from now on (in this process)."""
    if len(value) >= MIN_SECRET_LENGTH:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return text with every registered secret replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
        escaped = json.dumps(secret)[1:-1]
        if escaped != secret and escaped in text:
            text = text.replace(escaped, REDACTED)
    return text


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON object on one line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update(log_context.get() or {})
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        return escape_unsafe(redact(line))


def configure_logging(level: str = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Send JSON log lines of the given level and above to stderr, never printing `secrets`."""
    for secret in secrets:
        redact_secret(secret)
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(h, "_cryptostats", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._cryptostats = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
