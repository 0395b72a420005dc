"""MongoDB persistence: the price history, the per-coin snapshot served to clients, the ingest log.

Every query here runs identically on MongoDB and on mongomock (the embedded store): plain
find/sort/limit, insert_one, replace_one with upsert, and regular (not time-series) indexes.
Every method raises StoreUnavailable (a store error, never an HTTP one) when the store cannot be
reached, and returns typed records, never raw documents. Writes use majority write concern and
retryable writes and reads whatever the URI says (`client_options`), and every method survives a
replica-set primary step-down: `StoreRetry` runs it again, briefly and within a budget, when it met
a lost primary or connection (`retryable`); when no primary can be found at all it fails at once.

Nothing the ingest runs grows with the history: a history record's `_id` is its (coin,
observedAt) key, so a duplicate is caught by the primary key (mongomock checks a unique secondary
index by scanning the whole collection), and each snapshot carries the newest prices it was
computed from, so the ingest never sorts the history.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import mongomock
import pymongo
from bson import ObjectId
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

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

RETRY_ATTEMPTS = 3
"""Attempts of one store operation met by a step-down (a new primary is elected in seconds)."""

RETRY_BUDGET_SECONDS = 3.0
"""No retry starts later than this after the operation's first attempt."""

RETRY_BACKOFF_SECONDS = 0.2
"""Pause before the first retry, doubled before each next one."""

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


P = ParamSpec("P")
R = TypeVar("R")


def client_options() -> dict[str, Any]:
    """Return the MongoClient options the API always uses, whatever MONGO_URI says."""
    return {
        "w": "majority",
        "retryWrites": True,
        "retryReads": True,
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "socketTimeoutMS": SOCKET_TIMEOUT_MS,
        "appname": "cryptostats-api",
    }


def retryable(exc: PyMongoError) -> bool:
    """Whether an operation that raised exc may succeed if run again soon (a step-down).

    A lost primary (`NotPrimaryError`) or connection (`AutoReconnect`, `ConnectionFailure`), or
    an error MongoDB labels `RetryableWriteError`. Not a server-selection timeout: pymongo has
    already waited SERVER_SELECTION_TIMEOUT_MS for a primary, so none exists and the caller
    should hear so at once (a read answers 503).
    """
    if isinstance(exc, ServerSelectionTimeoutError):
        return False
    return isinstance(exc, ConnectionFailure) or exc.has_error_label("RetryableWriteError")


@dataclass(frozen=True)
class StoreRetry:
    """How a store operation met by a step-down is retried: bounded in attempts and time."""

    attempts: int = RETRY_ATTEMPTS
    budget_seconds: float = RETRY_BUDGET_SECONDS
    backoff_seconds: float = RETRY_BACKOFF_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def delay(self, attempt: int) -> float:
        """Return the pause before attempt number `attempt` (2 for the first retry)."""
        return self.backoff_seconds * 2 ** (attempt - 2)

    def run(self, operation: Callable[[], R], name: str) -> R:
        """Run operation, again after a retryable store error while attempts and budget last."""
        started = self.clock()
        attempt = 1
        while True:
            try:
                return operation()
            except StoreUnavailable as exc:
                cause = exc.__cause__
                if not isinstance(cause, PyMongoError) or not retryable(cause):
                    raise
                attempt += 1
                pause = self.delay(attempt)
                if attempt > self.attempts or self.clock() - started + pause > self.budget_seconds:
                    log.warning("store %s: %s; giving up after %d attempts", name, exc, attempt - 1)
                    raise
                log.warning("store %s: %s; retrying in %.1f s", name, exc, pause)
                self.sleep(pause)


def _retried(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Run a Store method through the store's StoreRetry."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.retry.run(lambda: method(self, *args, **kwargs), method.__name__)

    return wrapper


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise StoreUnavailable(f"data store unavailable ({type(exc).__name__})") from exc


class Store:
    """Market data in one MongoDB database (real or embedded)."""

    def __init__(
        self, database: Any, *, embedded: bool = False, retry: StoreRetry | None = None
    ) -> None:
        self.db = database
        self.embedded = embedded
        self.retry = retry or StoreRetry()

    @classmethod
    def connect(cls, mongo_uri: str | None, db_name: str) -> Store:
        """Open a client to MONGO_URI, or an embedded in-memory store when it is unset."""
        if mongo_uri is None:
            return cls(mongomock.MongoClient()[db_name], embedded=True)
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            mongo_uri, connect=False, **client_options()
        )
        return cls(client[db_name])

    @_retried
    def ensure_indexes(self, retention_days: int = 0) -> None:
        """Create the indexes the queries rely on, and the TTL index of retention; idempotent."""
        with store_errors():
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

    @_retried
    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        with store_errors():
            self.db.client.admin.command("ping")

    @_retried
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
            with store_errors():
                self.db[HISTORY].insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    @_retried
    def set_deviation(self, obs: Observation) -> None:
        """Record the deviation served after a coin's first record (one update by `_id`)."""
        with store_errors():
            self.db[HISTORY].update_one(
                {"_id": history_id(obs.coin, obs.observed_at)},
                {"$set": {"deviation": obs.deviation}},
            )

    @_retried
    def recent_observations(self, coin: str, limit: int) -> list[Observation]:
        """Return the newest trigger records of a coin (never backfilled ones), newest first."""
        with store_errors():
            cursor = (
                self.db[HISTORY]
                .find({"coin": coin, **NOT_BACKFILLED}, {"_id": 0, "ingestedAt": 0})
                .sort("observedAt", pymongo.DESCENDING)
                .limit(limit)
            )
            return [_observation(doc) for doc in cursor]

    @_retried
    def count_observations(self, coin: str) -> int:
        """Return how many records (trigger and backfilled) of a coin are stored."""
        with store_errors():
            return int(self.db[HISTORY].count_documents({"coin": coin}))

    @_retried
    def expire_records(self, coin: str, times: list[datetime], retention_days: int) -> None:
        """Give trigger records that left the deviation window their expireAt (MongoDB only).

        On MongoDB each is one update by `_id`; the embedded store removes its records itself
        (retention.EmbeddedRetention) because mongomock scans the collection on every update.
        """
        if self.embedded or retention_days <= 0:
            return
        with store_errors():
            for moment in times:
                expiry = to_bson_time(moment + timedelta(days=retention_days))
                self.db[HISTORY].update_one(
                    {"_id": history_id(coin, moment)}, {"$set": {EXPIRE_FIELD: expiry}}
                )

    @_retried
    def touch_series(self, coins: list[str], now: datetime) -> None:
        """Mark coins' history as changed now (the version /api/history's ETag carries).

        One document holds every coin's stamp, so a batch of any size is one update.
        """
        if not coins:
            return
        stamps = {coin: to_bson_time(now) for coin in coins}
        with store_errors():
            self.db[SERIES].update_one({"_id": SERIES_DOC}, {"$set": stamps}, upsert=True)

    @_retried
    def series_versions(self) -> dict[str, datetime]:
        """Return when each coin's history last changed."""
        with store_errors():
            doc = self.db[SERIES].find_one({"_id": SERIES_DOC}) or {}
        return {str(k): from_bson_time(v) for k, v in doc.items() if k != "_id"}

    @_retried
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
        with store_errors():
            self.db[SNAPSHOTS].replace_one({"_id": snap.coin}, doc, upsert=True)

    @_retried
    def snapshots(self, *, with_window: bool = False) -> dict[str, Snapshot]:
        """Return every stored snapshot by coin, with its price window only when asked."""
        projection = None if with_window else {"window": 0}
        with store_errors():
            return {doc["_id"]: _snapshot(doc) for doc in self.db[SNAPSHOTS].find({}, projection)}

    def record_ingest(self, report: LoggedReport) -> None:
        """Append an ingest report to the ingest log (once, even when a retry repeats it)."""
        self._insert_ingest({"_id": ObjectId(), **report.to_dict()})

    @_retried
    def _insert_ingest(self, doc: dict[str, Any]) -> None:
        try:
            with store_errors():
                self.db[INGESTS].insert_one(doc)
        except DuplicateKeyError:
            pass  # an earlier attempt wrote it before its connection was lost

    @_retried
    def recent_ingests(self, limit: int) -> list[IngestReport]:
        """Return the newest ingest reports of any process, newest first."""
        with store_errors():
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
