"""The history writer a backfill uses on today's store: the `prices` collection, same keys.

Backfilled records go where trigger records go, under the same `_id` (`history_id`), so a point
is never stored twice; they carry `backfill: true`, `volume24h`, a null `change24h` (the chart
has none) and, with retention on, `expireAt` (see retention.py). Once store.py has typed records
this adapter shrinks to two calls of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_server.backfill import BackfillRecord
from api_server.errors import StoreUnavailable
from api_server.retention import expire_at
from api_server.store import HISTORY, from_bson_time, history_id, to_bson_time


class MongoHistory:
    """HistoryWriter over a MongoDB (or mongomock) database's `prices` collection."""

    def __init__(self, database: Any, *, retention_days: int = 0) -> None:
        self.collection = database[HISTORY]
        self.retention_days = retention_days

    def oldest_time(self, coin: str) -> datetime | None:
        """Return the time of a coin's oldest stored record (trigger or backfill), or None."""
        try:
            cursor = (
                self.collection.find({"coin": coin}, {"observedAt": 1})
                .sort("observedAt", pymongo.ASCENDING)
                .limit(1)
            )
            docs = list(cursor)
        except PyMongoError as exc:
            raise StoreUnavailable(f"data store unavailable ({type(exc).__name__})") from exc
        return from_bson_time(docs[0]["observedAt"]) if docs else None

    def add_records(self, records: Sequence[BackfillRecord]) -> list[BackfillRecord]:
        """Insert records one by one; return those that were not already stored."""
        added = []
        now = to_bson_time(datetime.now(UTC))
        for record in records:
            try:
                self.collection.insert_one(self._document(record, now))
            except DuplicateKeyError:
                continue
            except PyMongoError as exc:
                raise StoreUnavailable(f"data store unavailable ({type(exc).__name__})") from exc
            added.append(record)
        return added

    def _document(self, record: BackfillRecord, now: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "_id": history_id(record.coin, record.observed_at),
            "coin": record.coin,
            "observedAt": to_bson_time(record.observed_at),
            "price": record.price,
            "marketCap": record.market_cap,
            "change24h": None,
            "volume24h": record.volume_24h,
            "source": record.source,
            "backfill": True,
            "ingestedAt": now,
        }
        expiry = expire_at(record.observed_at, self.retention_days)
        if expiry is not None:
            doc["expireAt"] = to_bson_time(expiry)
        return doc
