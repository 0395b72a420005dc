"""The "ingested" announcement an API process publishes after storing new data.

`{"origin": "<host:pid>"}`; with the embedded store it also carries what was stored
(`"observations": [[coin, ISO time, price, market cap, 24h change, source], ...]` and
`"labels": {coin: [symbol, name]}`), so that every embedded-store process stores it too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api_server.domain import CoinLabel, Observation

MAX_ANNOUNCEMENT_BYTES = 4 * 1024 * 1024
"""Largest announcement parsed (1,000 coins take about 150 KB); larger ones are ignored."""

MAX_OBSERVATIONS = 1000
"""Most observations one announcement may carry (one per tracked coin at most)."""


class InvalidAnnouncement(ValueError):
    """A message on the ingested channel that is not an announcement."""


@dataclass(frozen=True)
class Announcement:
    """Who stored new data and, with the embedded store, what it stored."""

    origin: str
    observations: list[Observation] | None = None
    labels: dict[str, CoinLabel] | None = None

    def encode(self) -> str:
        """Return the wire form."""
        message: dict[str, Any] = {"origin": self.origin}
        if self.observations is not None:
            message["observations"] = [
                [o.coin, o.observed_at.isoformat(), o.price, o.market_cap, o.change_24h, o.source]
                for o in self.observations
            ]
            message["labels"] = {
                coin: [label.symbol, label.name] for coin, label in (self.labels or {}).items()
            }
        return json.dumps(message)


def parse_announcement(raw: bytes | str) -> Announcement:
    """Parse an announcement in bounded time, raising InvalidAnnouncement for anything else."""
    if len(raw) > MAX_ANNOUNCEMENT_BYTES:
        raise InvalidAnnouncement(f"over {MAX_ANNOUNCEMENT_BYTES} bytes")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidAnnouncement("not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("origin"), str):
        raise InvalidAnnouncement("no origin")
    rows = payload.get("observations")
    if rows is None:
        return Announcement(payload["origin"])
    if not isinstance(rows, list) or len(rows) > MAX_OBSERVATIONS:
        raise InvalidAnnouncement(f"observations must be a list of at most {MAX_OBSERVATIONS}")
    try:
        observations = [_observation(row) for row in rows]
        labels = {
            str(coin): CoinLabel(symbol=str(pair[0])[:20], name=str(pair[1])[:100])
            for coin, pair in dict(payload.get("labels") or {}).items()
        }
    except (TypeError, ValueError, IndexError, OverflowError):
        raise InvalidAnnouncement("malformed observations") from None
    return Announcement(payload["origin"], observations, labels)


def _observation(row: list[Any]) -> Observation:
    coin, at, price, market_cap, change, source = row
    numbers = [float(price), float(market_cap), float(change)]
    # The same rules as an upstream row (coingecko.parse_market_row): Redis is no more trusted.
    if not all(math.isfinite(n) for n in numbers) or not isinstance(coin, str):
        raise ValueError("not an observation")
    if numbers[0] <= 0 or numbers[1] < 0:
        raise ValueError("price must be positive and market cap not negative")
    moment = datetime.fromisoformat(str(at))
    return Observation(
        coin=coin,
        observed_at=moment if moment.tzinfo else moment.replace(tzinfo=UTC),
        price=numbers[0],
        market_cap=numbers[1],
        change_24h=numbers[2],
        source=str(source),
    )
