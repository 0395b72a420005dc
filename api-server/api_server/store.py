"""MongoDB persistence: the price history, the per-coin snapshot served to clients, the ingest log.

Every query here runs identically on MongoDB and on mongomock (the embedded store): plain
find/sort/limit, insert_one, replace_one with upsert, and regular (not time-series) indexes.
Every method raises StoreUnavailable (a store error, never an HTTP one) when the store cannot be
reached, and returns typed records, never raw documents. Nothing the ingest runs grows with the
history: a history record's `_id` is its (coin, observedAt) key, so a duplicate is caught by the
primary key (mongomock checks a unique secondary index by scanning the whole collection), and
each snapshot carries the newest prices it was computed from, so the ingest never sorts the
history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import mongomock
import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.errors import StoreUnavailable
from api_server.report import IngestReport

EXPIRE_FIELD = "expireAt"
"""The date after which a raw record may be removed; absent: kept (see retention.py)."""

log = logging.getLogger(__name__)

SERVER_SELECTION_TIMEOUT_MS = 2500
"""How long pymongo looks for a reachable server before a read answers 503 (default is 30 s)."""

SOCKET_TIMEOUT_MS = 5000
"""How long one store operation may take on an open connection."""

HISTORY = "prices"
SNAPSHOTS = "latest"
INGESTS = "ingests"
SERIES = "series"
SERIES_DOC = "versions"
"""The one document of SERIES: `{coin: when its history (records or buckets) last changed}`."""

NOT_BACKFILLED = {"backfill": {"$ne": True}}
"""Trigger records only: backfilled ones are never deviation inputs."""


class LoggedReport(Protocol):
    """A report the ingest log keeps (IngestReport, BackfillReport)."""

    def to_dict(self) -> dict[str, Any]: ...


def history_id(coin: str, observed_at: datetime) -> str:
    """Return the `_id` of a coin's history record at a moment: its unique key."""
    return f"{coin}|{to_bson_time(observed_at).isoformat(timespec='milliseconds')}"


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

    def ensure_indexes(self, retention_days: int = 0) -> None:
        """Create the indexes the queries rely on, and the TTL index of retention; idempotent."""
        with _translated_errors():
            if retention_days > 0 and not self.embedded:
                # MongoDB removes a record once its expireAt has passed (see retention.py).
                self.db[HISTORY].create_index(
                    [(EXPIRE_FIELD, pymongo.ASCENDING)], name="expireAt_ttl", expireAfterSeconds=0
                )
            # Not unique: the `_id` (history_id) already makes (coin, observedAt) unique.
            self.db[HISTORY].create_index(
                [("coin", pymongo.ASCENDING), ("observedAt", pymongo.DESCENDING)],
                name="coin_observedAt",
            )
            self.db[INGESTS].create_index([("startedAt", pymongo.DESCENDING)], name="startedAt")

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        with _translated_errors():
            self.db.client.admin.command("ping")

    def add_observation(self, obs: Observation) -> bool:
        """Append an observation; return False when (coin, observedAt) is already stored."""
        doc = {
            "_id": history_id(obs.coin, obs.observed_at),
            "coin": obs.coin,
            "observedAt": to_bson_time(obs.observed_at),
            "price": obs.price,
            "marketCap": obs.market_cap,
            "change24h": obs.change_24h,
            "volume24h": obs.volume_24h,
            "deviation": obs.deviation,
            "source": obs.source,
            "ingestedAt": to_bson_time(datetime.now(UTC)),
        }
        try:
            with _translated_errors():
                self.db[HISTORY].insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def set_deviation(self, obs: Observation) -> None:
        """Record the deviation served after a coin's first record (one update by `_id`)."""
        with _translated_errors():
            self.db[HISTORY].update_one(
                {"_id": history_id(obs.coin, obs.observed_at)},
                {"$set": {"deviation": obs.deviation}},
            )

    def recent_observations(self, coin: str, limit: int) -> list[Observation]:
        """Return the newest trigger records of a coin (never backfilled ones), newest first."""
        with _translated_errors():
            cursor = (
                self.db[HISTORY]
                .find({"coin": coin, **NOT_BACKFILLED}, {"_id": 0, "ingestedAt": 0})
                .sort("observedAt", pymongo.DESCENDING)
                .limit(limit)
            )
            return [_observation(doc) for doc in cursor]

    def count_observations(self, coin: str) -> int:
        """Return how many records (trigger and backfilled) of a coin are stored."""
        with _translated_errors():
            return int(self.db[HISTORY].count_documents({"coin": coin}))

    def expire_records(self, coin: str, times: list[datetime], retention_days: int) -> None:
        """Give trigger records that left the deviation window their expireAt (MongoDB only).

        On MongoDB each is one update by `_id`; the embedded store removes its records itself
        (retention.EmbeddedRetention) because mongomock scans the collection on every update.
        """
        if self.embedded or retention_days <= 0:
            return
        with _translated_errors():
            for moment in times:
                expiry = to_bson_time(moment + timedelta(days=retention_days))
                self.db[HISTORY].update_one(
                    {"_id": history_id(coin, moment)}, {"$set": {EXPIRE_FIELD: expiry}}
                )

    def touch_series(self, coins: list[str], now: datetime) -> None:
        """Mark coins' history as changed now (the version /api/history's ETag carries).

        One document holds every coin's stamp, so a batch of any size is one update.
        """
        if not coins:
            return
        stamps = {coin: to_bson_time(now) for coin in coins}
        with _translated_errors():
            self.db[SERIES].update_one({"_id": SERIES_DOC}, {"$set": stamps}, upsert=True)

    def series_versions(self) -> dict[str, datetime]:
        """Return when each coin's history last changed."""
        with _translated_errors():
            doc = self.db[SERIES].find_one({"_id": SERIES_DOC}) or {}
        return {str(k): from_bson_time(v) for k, v in doc.items() if k != "_id"}

    def save_snapshot(self, snap: Snapshot) -> None:
        """Replace the served snapshot of a coin."""
        newest = snap.newest
        doc = {
            "_id": snap.coin,
            "price": newest.price,
            "marketCap": newest.market_cap,
            "change24h": newest.change_24h,
            "volume24h": newest.volume_24h,
            "deviation": snap.deviation,
            "samples": snap.samples,
            "observedAt": to_bson_time(newest.observed_at),
            "updatedAt": to_bson_time(snap.updated_at),
            "source": newest.source,
            "symbol": snap.label.symbol,
            "name": snap.label.name,
            "window": [{"observedAt": to_bson_time(t), "price": p} for t, p in snap.window],
        }
        with _translated_errors():
            self.db[SNAPSHOTS].replace_one({"_id": snap.coin}, doc, upsert=True)

    def snapshots(self, *, with_window: bool = False) -> dict[str, Snapshot]:
        """Return every stored snapshot by coin, with its price window only when asked."""
        projection = None if with_window else {"window": 0}
        with _translated_errors():
            return {doc["_id"]: _snapshot(doc) for doc in self.db[SNAPSHOTS].find({}, projection)}

    def record_ingest(self, report: LoggedReport) -> None:
        """Append an ingest report to the ingest log."""
        with _translated_errors():
            self.db[INGESTS].insert_one(report.to_dict())

    def recent_ingests(self, limit: int) -> list[IngestReport]:
        """Return the newest ingest reports of any process, newest first."""
        with _translated_errors():
            cursor = (
                self.db[INGESTS]
                .find({}, {"_id": 0})
                .sort("startedAt", pymongo.DESCENDING)
                .limit(limit)
            )
            return [_ingest_report(doc) for doc in cursor]


def _observation(doc: dict[str, Any]) -> Observation:
    return Observation(
        coin=doc["coin"],
        observed_at=from_bson_time(doc["observedAt"]),
        price=float(doc["price"]),
        market_cap=float(doc["marketCap"]),
        change_24h=float(doc["change24h"]),
        source=str(doc.get("source", "")),
        volume_24h=_optional(doc.get("volume24h")),
        deviation=_optional(doc.get("deviation")),
    )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _snapshot(doc: dict[str, Any]) -> Snapshot:
    return Snapshot(
        newest=Observation(
            coin=doc["_id"],
            observed_at=from_bson_time(doc["observedAt"]),
            price=float(doc["price"]),
            market_cap=float(doc["marketCap"]),
            change_24h=float(doc["change24h"]),
            source=str(doc.get("source", "")),
            volume_24h=_optional(doc.get("volume24h")),
        ),
        deviation=float(doc["deviation"]),
        samples=int(doc.get("samples", 0)),
        updated_at=from_bson_time(doc["updatedAt"]),
        label=CoinLabel(symbol=str(doc.get("symbol") or ""), name=str(doc.get("name") or "")),
        window=tuple(
            (from_bson_time(point["observedAt"]), float(point["price"]))
            for point in doc.get("window", ())
        ),
    )


def _ingest_report(doc: dict[str, Any]) -> IngestReport:
    started = doc.get("startedAt")
    finished = doc.get("finishedAt")
    return IngestReport(
        reason=str(doc.get("reason", "")),
        started_at=from_bson_time(started) if isinstance(started, datetime) else _EPOCH,
        finished_at=from_bson_time(finished) if isinstance(finished, datetime) else None,
        outcome=str(doc.get("outcome", "")),
        stored=[str(coin) for coin in doc.get("stored") or []],
        duplicates=[str(coin) for coin in doc.get("duplicates") or []],
        skipped={str(k): str(v) for k, v in (doc.get("skipped") or {}).items()},
        upstream_calls=int(doc.get("upstreamCalls") or 0),
        errors=[str(e) for e in doc.get("errors") or []],
        source=str(doc.get("source", "")),
        pid=int(doc.get("pid") or 0),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
