"""The simulator's optional per-minute rate limit, refused with CoinGecko's 429 and its headers.

The window is the UTC minute, as the whole-minute `x-ratelimit-reset` CoinGecko sends suggests
(`2025-07-25 14:54:00 +0000`). Only calls let through use up the window. The 429 carries either
that reset header with `x-ratelimit-limit` and `x-ratelimit-remaining: 0` (`headers="reset"`),
or `Retry-After` in seconds (`"retry_after"`), both seen from CoinGecko, or all of them (`"both"`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify

from cryptostats_dev.sim_faults import RATE_LIMIT_BODY

MINUTE_MS = 60_000

HEADER_STYLES = ("reset", "retry_after", "both")
"""What a 429 of the per-minute limit tells the caller about when to come back."""


@dataclass(frozen=True)
class Throttled:
    """A call refused by the per-minute limit."""

    limit: int
    now_ms: int
    reset_ms: int
    headers: str

    def response(self) -> tuple[Response, int]:
        """Answer as CoinGecko does when the plan's rate limit is used up."""
        response = jsonify(RATE_LIMIT_BODY)
        if self.headers in ("reset", "both"):
            reset = datetime.fromtimestamp(self.reset_ms / 1000, UTC)
            response.headers["x-ratelimit-limit"] = str(self.limit)
            response.headers["x-ratelimit-remaining"] = "0"
            response.headers["x-ratelimit-reset"] = reset.strftime("%Y-%m-%d %H:%M:%S +0000")
        if self.headers in ("retry_after", "both"):
            wait = max(1, math.ceil((self.reset_ms - self.now_ms) / 1000))
            response.headers["Retry-After"] = str(wait)
        return response, 429


@dataclass
class MinuteLimit:
    """At most `per_minute` data calls per UTC minute; None lets every call through."""

    per_minute: int | None = None
    headers: str = "reset"
    window: int = -1
    used: int = 0

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> MinuteLimit:
        """Build a limit from `POST /_sim/rate_limit` JSON; raise ValueError when malformed."""
        per_minute = payload.get("per_minute")
        if per_minute is not None and (type(per_minute) is not int or per_minute < 1):
            raise ValueError("per_minute must be a positive integer or null")
        headers = payload.get("headers", "reset")
        if headers not in HEADER_STYLES:
            raise ValueError(f"headers must be one of {list(HEADER_STYLES)}")
        return cls(per_minute, headers)

    def to_json(self) -> dict[str, Any]:
        """Return the limit as `GET /_sim/rate_limit` shows it."""
        return {"per_minute": self.per_minute, "headers": self.headers}

    def admit(self, now_ms: int) -> Throttled | None:
        """Count a call in the current minute, or return why it is refused."""
        if self.per_minute is None:
            return None
        minute = now_ms // MINUTE_MS
        if minute != self.window:
            self.window, self.used = minute, 0
        if self.used >= self.per_minute:
            return Throttled(self.per_minute, now_ms, (minute + 1) * MINUTE_MS, self.headers)
        self.used += 1
        return None

    def forget(self) -> None:
        """Forget the calls counted so far (the limit itself stays)."""
        self.window, self.used = -1, 0
