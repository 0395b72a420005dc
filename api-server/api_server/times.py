"""How every response writes a moment: the one place that formats times.

Two forms exist because the README documents both and clients rely on them: ISO 8601 UTC with
milliseconds and a Z (every endpoint), and Python's isoformat with +00:00 (`/ready` only).
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(moment: datetime | None) -> str | None:
    """Return an aware datetime as ISO 8601 UTC with milliseconds and a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ready_time(moment: datetime | None) -> str | None:
    """Return a datetime in the form /ready documents ("2026-01-01T12:00:00+00:00"), or None."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
