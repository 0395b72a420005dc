"""Test doubles shared by unit tests: a scripted market source, a claim, a clock, builders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api_server.backfill import granularity
from api_server.claim import Lease
from api_server.coingecko import FetchResult
from api_server.domain import CoinLabel, Observation
from api_server.errors import UpstreamError
from api_server.market_chart import ChartPoint, MarketChart
from cryptostats.config import TrackedCoin

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BACKFILL_NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
"""When ScriptedCharts' charts end unless told otherwise."""


def observation(
    coin: str, price: float, *, at: datetime | None = None, seq: int = 0, source: str = "x"
) -> Observation:
    """Build a valid observation of a coin (cap 1000 x price, volume 50 x, 24h change 1.5)."""
    return Observation(
        coin=coin,
        observed_at=at or T0 + timedelta(minutes=seq),
        price=price,
        market_cap=price * 1000,
        change_24h=1.5,
        source=source,
        volume_24h=price * 50,
    )


class ScriptedSource:
    """A market source that answers with prices from a script, counting calls."""

    source = "scripted.test"

    def __init__(self, prices: Callable[[str, int], float | None] | None = None) -> None:
        self.calls = 0
        self.prices = prices or (lambda coin, n: 100.0 + n)
        self.error: Exception | None = None

    def fetch(self, coins: tuple[TrackedCoin, ...]) -> FetchResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        result = FetchResult(calls=1)
        for spec in coins:
            price = self.prices(spec.public, self.calls)
            if price is None:
                result.skipped[spec.public] = "missing from upstream answer"
                continue
            result.observations.append(
                observation(spec.public, price, seq=self.calls, source=self.source)
            )
            result.labels[spec.public] = CoinLabel(spec.public[:3], spec.public.title())
        return result


class FakeClaim:
    """A claim another process may hold (`held`), with the wait it reports when it does."""

    def __init__(self) -> None:
        self.held = False
        self.wait = 1.0
        self.acquired = 0
        self.released: list[Lease] = []

    def acquire(self) -> Lease | None:
        if self.held:
            return None
        self.acquired += 1
        return Lease(f"fake-{self.acquired}")

    def release(self, lease: Lease) -> None:
        self.released.append(lease)

    def retry_in(self) -> float:
        return self.wait


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedCharts:
    """CoinGecko's automatic granularity over `days`, ending now; failures by upstream id."""

    source = "charts.test"

    def __init__(
        self, failures: dict[str, UpstreamError] | None = None, now: datetime = BACKFILL_NOW
    ) -> None:
        self.failures = failures or {}
        self.now = now
        self.calls: list[tuple[str, int]] = []
        self.dropped: Counter[str] = Counter()

    def fetch(self, upstream_id: str, days: int) -> MarketChart:
        self.calls.append((upstream_id, days))
        if upstream_id in self.failures:
            raise self.failures.pop(upstream_id)
        step = granularity(days)
        start = self.now - timedelta(days=days)
        first = start + (datetime.min.replace(tzinfo=UTC) - start) % step
        times = []
        moment = first
        while moment < self.now:
            times.append(moment)
            moment += step
        times.append(self.now)
        base = 100.0 + len(upstream_id)
        points = [ChartPoint(t, base + i, 1e9 + i, 5e7 + i) for i, t in enumerate(times)]
        return MarketChart(upstream_id, days, points, Counter(self.dropped))
