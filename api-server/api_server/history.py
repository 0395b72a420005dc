"""History reads from the pre-aggregated buckets: a coin's series and its trend.

Both read one coin's buckets at one interval over `days` (at most 1,000 of them), so their cost
depends on what they return, never on how much history is stored (buckets.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api_server.buckets import Bucket, BucketReader, choose_interval

RENDERED_BODIES = 64
"""JSON bodies kept per process, by ETag (a dashboard polls a few coins and ranges)."""


class RenderedBodies:
    """Recently rendered JSON bodies by ETag: each is built once per window and history version.

    The ETag names the window's first bucket and the coin's history version, which changes with
    every stored record, so a body found here is exactly what rendering again would give.
    """

    def __init__(self, size: int = RENDERED_BODIES) -> None:
        self.size = size
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        """Return the body rendered for an ETag, or None."""
        with self._lock:
            body = self._bodies.get(etag)
            if body is not None:
                self._bodies.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        """Keep a body, dropping the least recently used beyond `size`."""
        with self._lock:
            self._bodies[etag] = body
            self._bodies.move_to_end(etag)
            while len(self._bodies) > self.size:
                self._bodies.popitem(last=False)


@dataclass(frozen=True)
class Trend:
    """How a coin's price moved over some days: first and last price, low and high."""

    days: int
    points: int
    """Stored records (trigger and backfilled) the buckets aggregate."""
    first_price: float
    first_at: datetime
    last_price: float
    last_at: datetime
    low: float
    high: float

    @property
    def change_percent(self) -> float:
        """The change from the first to the last price, in percent (0 from a zero price)."""
        if not self.first_price:
            return 0.0
        return (self.last_price - self.first_price) / self.first_price * 100


class History:
    """A coin's buckets, as /api/history and trend questions need them."""

    def __init__(self, buckets: BucketReader, *, now: Callable[[], datetime] | None = None) -> None:
        self.buckets = buckets
        self.now = now or (lambda: datetime.now(UTC))
        self.rendered = RenderedBodies()
        """/api/history's JSON bodies, rendered once per window and history version."""

    def series(self, coin: str, days: int, interval: str | None = None) -> list[Bucket]:
        """Return the coin's buckets over the last `days` days, oldest first."""
        chosen = choose_interval(days, interval)
        return self.buckets.query(coin, chosen, self.now() - timedelta(days=days))

    def trend(self, coin: str, days: int) -> Trend | None:
        """Return how the coin's price moved over the last `days` days, or None without data."""
        return trend_of(self.series(coin, days), days)


def trend_of(buckets: Sequence[Bucket], days: int) -> Trend | None:
    """Summarise buckets (oldest first) as a Trend, or None when there are none."""
    if not buckets:
        return None
    first, last = buckets[0], buckets[-1]
    return Trend(
        days=days,
        points=sum(bucket.count for bucket in buckets),
        first_price=first.open,
        first_at=first.open_at,
        last_price=last.close,
        last_at=last.close_at,
        low=min(bucket.low for bucket in buckets),
        high=max(bucket.high for bucket in buckets),
    )
