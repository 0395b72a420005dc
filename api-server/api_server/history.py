"""Queries of the stored history, kept out of the route bodies: a coin's series and its trend.

Today they read the store at request time (bounded: at most `days` of one coin); the route
bodies only validate parameters and render what these return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api_server.domain import Observation
from api_server.store import Store

MAX_HISTORY_POINTS = 1000
"""Most points /api/history returns; longer series are thinned evenly."""


@dataclass(frozen=True)
class Trend:
    """How a coin's price moved over some days: first and last observation, low and high."""

    days: int
    points: int
    first: Observation
    last: Observation
    low: float
    high: float

    @property
    def change_percent(self) -> float:
        """The change from the first to the last price, in percent (0 from a zero price)."""
        if not self.first.price:
            return 0.0
        return (self.last.price - self.first.price) / self.first.price * 100


class History:
    """A coin's stored observations, as /api/history and trend questions need them."""

    def __init__(self, store: Store, *, now: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.now = now or (lambda: datetime.now(UTC))

    def series(self, coin: str, days: int, most: int = MAX_HISTORY_POINTS) -> list[Observation]:
        """Return the coin's observations of the last `days` days, oldest first, thinned."""
        return thin(self.store.history(coin, self.now() - timedelta(days=days)), most)

    def trend(self, coin: str, days: int) -> Trend | None:
        """Return how the coin's price moved over the last `days` days, or None without data."""
        return trend_of(self.store.history(coin, self.now() - timedelta(days=days)), days)


def trend_of(series: Sequence[Observation], days: int) -> Trend | None:
    """Summarise a series (oldest first) as a Trend, or None when it is empty."""
    if not series:
        return None
    prices = [obs.price for obs in series]
    return Trend(days, len(series), series[0], series[-1], min(prices), max(prices))


def thin(series: list[Observation], most: int) -> list[Observation]:
    """Keep at most `most` evenly spaced items, always the first and the last."""
    if len(series) <= most:
        return series
    if most == 1:
        return series[-1:]
    last = len(series) - 1
    return [series[round(i * last / (most - 1))] for i in range(most)]
