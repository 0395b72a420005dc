"""Build a coin's buckets from its stored raw history: for installs from before buckets.

Run once per coin (under a claim, at start) when the coin has raw records but no daily bucket.
It clears the coin's buckets first, so running it again gives the same buckets, then reads the
history oldest first in chunks by time (an index range each, never a skip) and aggregates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pymongo

from api_server.buckets import INTERVALS, Buckets
from api_server.store import HISTORY, from_bson_time

REBUILD_CHUNK = 1000
"""Raw records read and aggregated per step."""


@dataclass(frozen=True)
class StoredRecord:
    """A raw history document as bucket input (older documents lack volume and deviation)."""

    coin: str
    observed_at: datetime
    price: float
    market_cap: float
    volume_24h: float | None
    deviation: float | None


def stored_record(doc: dict[str, Any]) -> StoredRecord:
    """Return the bucket input of a raw history document."""
    volume, deviation = doc.get("volume24h"), doc.get("deviation")
    return StoredRecord(
        coin=doc["coin"],
        observed_at=from_bson_time(doc["observedAt"]),
        price=float(doc["price"]),
        market_cap=float(doc["marketCap"]),
        volume_24h=None if volume is None else float(volume),
        deviation=None if deviation is None else float(deviation),
    )


def needs_rebuild(database: Any, coin: str) -> bool:
    """Whether a coin has raw records but no daily bucket."""
    has_history = database[HISTORY].find_one({"coin": coin}, {"_id": 1}) is not None
    has_buckets = database["buckets_1d"].find_one({"coin": coin}, {"_id": 1}) is not None
    return has_history and not has_buckets


def rebuild_buckets(database: Any, buckets: Buckets, coin: str, chunk: int = REBUILD_CHUNK) -> int:
    """Replace a coin's buckets by those of its raw history; return the records read."""
    for interval in INTERVALS:
        buckets.collections[interval].delete_many({"coin": coin})
    read = 0
    after: datetime | None = None
    while True:
        query: dict[str, Any] = {"coin": coin}
        if after is not None:
            query["observedAt"] = {"$gt": after}
        docs = list(
            database[HISTORY].find(query).sort("observedAt", pymongo.ASCENDING).limit(chunk)
        )
        if not docs:
            return read
        buckets.add_many([stored_record(doc) for doc in docs])
        read += len(docs)
        after = docs[-1]["observedAt"]


def rebuild_missing(database: Any, buckets: Buckets, coins: list[str]) -> dict[str, int]:
    """Rebuild the buckets of every coin that has raw records but none; return records read."""
    return {
        coin: rebuild_buckets(database, buckets, coin)
        for coin in coins
        if needs_rebuild(database, coin)
    }
