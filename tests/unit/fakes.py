"""Test doubles shared by unit tests: a scripted market source and builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from api_server.coingecko import FetchResult, Quote
from cryptostats.config import CoinSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def quote(coin: str, price: float, *, at: datetime | None = None, seq: int = 0) -> Quote:
    """Build a valid quote for a coin."""
    return Quote(
        coin=coin,
        upstream_id=coin,
        symbol=coin[:3],
        name=coin.title(),
        price=price,
        market_cap=price * 1000,
        change_24h=1.5,
        observed_at=at or T0 + timedelta(minutes=seq),
    )


class ScriptedSource:
    """A market source that answers with prices from a script, counting calls."""

    source = "scripted.test"

    def __init__(self, prices: Callable[[str, int], float | None] | None = None) -> None:
        self.calls = 0
        self.prices = prices or (lambda coin, n: 100.0 + n)
        self.error: Exception | None = None

    def fetch(self, coins: tuple[CoinSpec, ...]) -> FetchResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        result = FetchResult(calls=1)
        for spec in coins:
            price = self.prices(spec.public, self.calls)
            if price is None:
                result.skipped[spec.public] = "missing from upstream answer"
                continue
            result.quotes.append(quote(spec.public, price, seq=self.calls))
        return result
