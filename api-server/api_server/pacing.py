"""Spacing of upstream calls so a burst of them (a backfill) stays within the plan's rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptostats.config import Settings

KEYLESS_CALLS_PER_MINUTE = 5.0
"""CoinGecko without a key: about 5-15 calls/min shared per IP, so the low end."""

DEMO_CALLS_PER_MINUTE = 30.0
"""CoinGecko Demo key: 30 calls/min (and 10,000 a month)."""

PRO_CALLS_PER_MINUTE = 250.0
"""CoinGecko paid plans: 250 calls/min on the smallest (Basic), more on the others."""

TRIGGER_SHARE = 0.8
"""Share of the plan's rate a backfill may use, leaving the rest to the update triggers."""


def calls_per_minute(settings: Settings) -> float:
    """Return the rate the plan allows: keyless, Demo key or paid key."""
    if not settings.coingecko_api_key:
        return KEYLESS_CALLS_PER_MINUTE
    if settings.coingecko_api_plan == "pro":
        return PRO_CALLS_PER_MINUTE
    return DEMO_CALLS_PER_MINUTE


class CallSpacer:
    """Waits before each call so consecutive calls start at least `spacing` seconds apart."""

    def __init__(
        self,
        calls_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self.spacing = 60.0 / calls_per_minute
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None
        self.waited = 0.0
        """Seconds spent waiting so far, for reports."""

    @classmethod
    def for_backfill(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> CallSpacer:
        """Pace a backfill at BACKFILL_CALLS_PER_MINUTE, or else its share of the plan's rate."""
        rate = settings.backfill_calls_per_minute or calls_per_minute(settings) * TRIGGER_SHARE
        return cls(rate, clock=clock, sleep=sleep)

    def delay(self) -> float:
        """Return how long the next call must wait now (0 for the first one)."""
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.spacing - self.clock())

    def wait(self) -> float:
        """Wait until the next call may start, mark it started, and return the seconds waited."""
        pause = self.delay()
        if pause > 0:
            self.sleep(pause)
            self.waited += pause
        self._last = self.clock()
        return pause
