"""The "ingested" announcement an API process publishes after storing new data.

`{"origin": "<host:pid>"}`; with the embedded store it also carries what was stored
(`"observations": [[coin, ISO time, price, market cap, 24h change, source, volume, deviation],
...]`, `"labels": {coin: [symbol, name]}` and, for a backfill, `"backfill": [[coin, ISO time,
price, market cap, volume, source], ...]`), so that every embedded-store process stores it too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api_server.backfill import BackfillRecord
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
    backfill: list[BackfillRecord] | None = None

    def encode(self) -> str:
        """Return the wire form."""
        message: dict[str, Any] = {"origin": self.origin}
        if self.observations is not None:
            message["observations"] = [
                [
                    *(o.coin, o.observed_at.isoformat(), o.price, o.market_cap, o.change_24h),
                    *(o.source, o.volume_24h, o.deviation),
                ]
                for o in self.observations
            ]
            message["labels"] = {
                coin: [label.symbol, label.name] for coin, label in (self.labels or {}).items()
            }
        if self.backfill is not None:
            message["backfill"] = [
                [r.coin, r.observed_at.isoformat(), r.price, r.market_cap, r.volume_24h, r.source]
                for r in self.backfill
            ]
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
    backfill_rows = payload.get("backfill")
    if rows is None and backfill_rows is None:
        return Announcement(payload["origin"])
    rows = [] if rows is None else rows
    backfill_rows = [] if backfill_rows is None else backfill_rows
    for listed in (rows, backfill_rows):
        if not isinstance(listed, list) or len(listed) > MAX_OBSERVATIONS:
            raise InvalidAnnouncement(f"records must be a list of at most {MAX_OBSERVATIONS}")
    try:
        observations = [_observation(row) for row in rows or []]
        backfill = [_backfill_record(row) for row in backfill_rows or []]
        labels = {
            str(coin): CoinLabel(symbol=str(pair[0])[:20], name=str(pair[1])[:100])
            for coin, pair in dict(payload.get("labels") or {}).items()
        }
    except (TypeError, ValueError, IndexError, OverflowError):
        raise InvalidAnnouncement("malformed observations") from None
    return Announcement(payload["origin"], observations, labels, backfill or None)


def _observation(row: list[Any]) -> Observation:
    coin, at, price, market_cap, change, source, *extra = row
    numbers = [float(price), float(market_cap), float(change)]
    volume, deviation = (_optional(value) for value in (extra + [None, None])[:2])
    # The same rules as an upstream row (coingecko.parse_market_row): Redis is no more trusted.
    if not all(math.isfinite(n) for n in numbers) or not isinstance(coin, str):
        raise ValueError("not an observation")
    if numbers[0] <= 0 or numbers[1] < 0 or (volume is not None and volume < 0):
        raise ValueError("price must be positive, market cap and volume not negative")
    return Observation(
        coin=coin,
        observed_at=_moment(at),
        price=numbers[0],
        market_cap=numbers[1],
        change_24h=numbers[2],
        source=str(source),
        volume_24h=volume,
        deviation=deviation,
    )


def _backfill_record(row: list[Any]) -> BackfillRecord:
    coin, at, price, market_cap, volume, source = row
    numbers = [float(price), float(market_cap), float(volume)]
    if not all(math.isfinite(n) for n in numbers) or not isinstance(coin, str):
        raise ValueError("not a backfilled record")
    if numbers[0] <= 0 or numbers[1] < 0 or numbers[2] < 0:
        raise ValueError("price must be positive, market cap and volume not negative")
    return BackfillRecord(coin, _moment(at), numbers[0], numbers[1], numbers[2], str(source))


def _moment(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _optional(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number
