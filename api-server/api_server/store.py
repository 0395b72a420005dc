"""MongoDB persistence: the price history, the per-coin snapshot served to clients, the ingest log.

Every query here runs identically on MongoDB and on mongomock (the embedded store): plain
find/sort/limit, insert_one, replace_one with upsert, and regular (not time-series) indexes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mongomock
import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_server.errors import StoreUnavailable

log = logging.getLogger(__name__)

SERVER_SELECTION_TIMEOUT_MS = 2500
"""How long pymongo looks for a reachable server before a read answers 503 (default is 30 s)."""

SOCKET_TIMEOUT_MS = 5000
"""How long one store operation may take on an open connection."""

HISTORY = "prices"
SNAPSHOTS = "latest"
INGESTS = "ingests"


@dataclass(frozen=True)
class Observation:
    """One validated market observation of a coin, as stored in the history."""

    coin: str
    observed_at: datetime
    price: float
    market_cap: float
    change_24h: float
    source: str


@dataclass(frozen=True)
class Snapshot:
    """What the read endpoints serve for a coin: its newest observation and price deviation."""

    coin: str
    price: float
    market_cap: float
    change_24h: float
    deviation: float
    samples: int
    observed_at: datetime
    updated_at: datetime
    source: str
    symbol: str = ""
    name: str = ""


def to_bson_time(moment: datetime) -> datetime:
    """Return a naive UTC datetime truncated to milliseconds, as BSON stores it."""
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def from_bson_time(moment: datetime) -> datetime:
    """Return a stored (naive UTC) datetime as an aware UTC datetime."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise StoreUnavailable(f"data store unavailable ({type(exc).__name__})") from exc


class Store:
    """Market data in one MongoDB database (real or embedded)."""

    def __init__(self, database: Any, *, embedded: bool = False) -> None:
        self.db = database
        self.embedded = embedded

    @classmethod
    def connect(cls, mongo_uri: str | None, db_name: str) -> Store:
        """Open a client to MONGO_URI, or an embedded in-memory store when it is unset."""
        if mongo_uri is None:
            return cls(mongomock.MongoClient()[db_name], embedded=True)
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            mongo_uri,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            connectTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            socketTimeoutMS=SOCKET_TIMEOUT_MS,
            appname="cryptostats-api",
            connect=False,
        )
        return cls(client[db_name])

    def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on; idempotent."""
        with _translated_errors():
            self.db[HISTORY].create_index(
                [("coin", pymongo.ASCENDING), ("observedAt", pymongo.DESCENDING)],
                unique=True,
                name="coin_observedAt_unique",
            )
            self.db[INGESTS].create_index([("startedAt", pymongo.DESCENDING)], name="startedAt")

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        with _translated_errors():
            self.db.client.admin.command("ping")

    def add_observation(self, obs: Observation) -> bool:
        """Append an observation; return False when (coin, observedAt) is already stored."""
        doc = {
            "coin": obs.coin,
            "observedAt": to_bson_time(obs.observed_at),
            "price": obs.price,
            "marketCap": obs.market_cap,
            "change24h": obs.change_24h,
            "source": obs.source,
            "ingestedAt": to_bson_time(datetime.now(UTC)),
        }
        try:
            with _translated_errors():
                self.db[HISTORY].insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def recent_observations(self, coin: str, limit: int) -> list[Observation]:
        """Return the newest observations of a coin, newest first."""
        with _translated_errors():
            cursor = (
                self.db[HISTORY]
                .find({"coin": coin}, {"_id": 0, "ingestedAt": 0})
                .sort("observedAt", pymongo.DESCENDING)
                .limit(limit)
            )
            return [_observation(doc) for doc in cursor]

    def history(self, coin: str, since: datetime) -> list[Observation]:
        """Return a coin's observations since a moment, oldest first."""
        with _translated_errors():
            cursor = (
                self.db[HISTORY]
                .find({"coin": coin, "observedAt": {"$gte": to_bson_time(since)}}, {"_id": 0})
                .sort("observedAt", pymongo.ASCENDING)
            )
            return [_observation(doc) for doc in cursor]

    def count_observations(self, coin: str) -> int:
        """Return how many observations of a coin are stored."""
        with _translated_errors():
            return int(self.db[HISTORY].count_documents({"coin": coin}))

    def save_snapshot(self, snap: Snapshot) -> None:
        """Replace the served snapshot of a coin."""
        doc = {
            "_id": snap.coin,
            "price": snap.price,
            "marketCap": snap.market_cap,
            "change24h": snap.change_24h,
            "deviation": snap.deviation,
            "samples": snap.samples,
            "observedAt": to_bson_time(snap.observed_at),
            "updatedAt": to_bson_time(snap.updated_at),
            "source": snap.source,
            "symbol": snap.symbol,
            "name": snap.name,
        }
        with _translated_errors():
            self.db[SNAPSHOTS].replace_one({"_id": snap.coin}, doc, upsert=True)

    def snapshots(self) -> dict[str, Snapshot]:
        """Return every stored snapshot by coin."""
        with _translated_errors():
            return {doc["_id"]: _snapshot(doc) for doc in self.db[SNAPSHOTS].find({})}

    def record_ingest(self, summary: dict[str, Any]) -> None:
        """Append an ingest summary to the ingest log."""
        with _translated_errors():
            self.db[INGESTS].insert_one(dict(summary))

    def recent_ingests(self, limit: int) -> list[dict[str, Any]]:
        """Return the newest ingest summaries, newest first."""
        with _translated_errors():
            cursor = (
                self.db[INGESTS]
                .find({}, {"_id": 0})
                .sort("startedAt", pymongo.DESCENDING)
                .limit(limit)
            )
            return list(cursor)


def _observation(doc: dict[str, Any]) -> Observation:
    return Observation(
        coin=doc["coin"],
        observed_at=from_bson_time(doc["observedAt"]),
        price=float(doc["price"]),
        market_cap=float(doc["marketCap"]),
        change_24h=float(doc["change24h"]),
        source=str(doc.get("source", "")),
    )


def _snapshot(doc: dict[str, Any]) -> Snapshot:
    return Snapshot(
        coin=doc["_id"],
        price=float(doc["price"]),
        market_cap=float(doc["marketCap"]),
        change_24h=float(doc["change24h"]),
        deviation=float(doc["deviation"]),
        samples=int(doc.get("samples", 0)),
        observed_at=from_bson_time(doc["observedAt"]),
        updated_at=from_bson_time(doc["updatedAt"]),
        source=str(doc.get("source", "")),
        symbol=str(doc.get("symbol") or ""),
        name=str(doc.get("name") or ""),
    )
