"""The domain types, one per idea: what upstream observed, how a coin is named, what is served.

Observation   one validated market observation of a coin (one trigger record of the history)
CoinLabel     how upstream names a coin (symbol, name); travels with its observations
Snapshot      what the read endpoints serve for a coin: its newest observation, its label, the
              deviation of its newest prices and the price window that deviation covers
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Observation:
    """One validated market observation of a coin, as stored in the history."""

    coin: str
    observed_at: datetime
    price: float
    market_cap: float
    change_24h: float
    source: str
    volume_24h: float | None = None
    """CoinGecko's `total_volume` (None in records stored before it was kept)."""
    deviation: float | None = None
    """The deviation served right after this record's ingest (None until computed)."""


@dataclass(frozen=True)
class CoinLabel:
    """How upstream names a coin ("btc", "Bitcoin"); empty until known."""

    symbol: str = ""
    name: str = ""


PricePoint = tuple[datetime, float]
"""One (observedAt, price) entry of a snapshot's price window."""


@dataclass(frozen=True)
class Snapshot:
    """What the read endpoints serve for a coin: its newest observation and price deviation."""

    newest: Observation
    deviation: float
    samples: int
    updated_at: datetime
    label: CoinLabel = CoinLabel()
    window: tuple[PricePoint, ...] = ()
    """The newest prices the deviation covers, newest first (empty when not loaded)."""

    @property
    def coin(self) -> str:
        """The coin's public name."""
        return self.newest.coin

    @property
    def observed_at(self) -> datetime:
        """When upstream observed the newest data."""
        return self.newest.observed_at
