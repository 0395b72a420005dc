"""Pre-aggregated OHLC buckets (5 minutes, 1 hour, 1 day) of every coin, kept current per record.

Each record updates the three buckets it falls in, in O(1): `open` is the price of the earliest
record by time and `close` of the latest, so records may arrive in any order (a backfill after
trigger records); `high`/`low` are the extremes; `marketCap` and `volume24h` are those of the
latest record; `deviation` is the latest non-null one (backfilled records carry none).

A bucket is one document, `_id` `coin|interval|bucketStart`, in one collection per interval (so
the embedded store, which scans a collection on every query, scans only that interval's). It is
written by compare-and-swap on a `version` field: read, merge in Python (`merge`, a pure
function), then `insert_one` (a new bucket) or `update_one({_id, version})`; a lost race (a
duplicate key, or no match) reloads and merges again. These are plain operations that MongoDB and
mongomock run identically, and concurrent writers (a backfill in one process, triggers in another)
never lose a record.

mongomock scans a whole collection on every operation, so on the embedded store (one process,
data lost at exit) `open_buckets` gives `MemoryBuckets` instead: the same merge and answers,
held in the API process, whose reads and writes do not grow with the history.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pymongo
from pymongo.errors import DuplicateKeyError, PyMongoError

from api_server.errors import InvalidRequest, StoreUnavailable
from api_server.retention import FINE_BUCKET_DAYS, REMOVE_STEP
from api_server.store import from_bson_time, to_bson_time

log = logging.getLogger(__name__)

INTERVALS: dict[str, int] = {"5m": 300, "1h": 3600, "1d": 86400}
"""Bucket widths in seconds, finest first."""

MAX_POINTS = 1000
"""Most buckets one history answer may hold."""

DAY_SECONDS = 86400

CAS_ATTEMPTS = 8
"""Merges tried on one bucket before giving up (each lost race means another writer progressed)."""

LOAD_CHUNK = 500
"""Bucket ids loaded per query by add_many."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BucketInput(Protocol):
    """What a record must offer to be aggregated (trigger and backfill records both do)."""

    @property
    def coin(self) -> str: ...
    @property
    def observed_at(self) -> datetime: ...
    @property
    def price(self) -> float: ...
    @property
    def market_cap(self) -> float: ...
    @property
    def volume_24h(self) -> float | None: ...
    @property
    def deviation(self) -> float | None: ...


@dataclass(frozen=True)
class Bucket:
    """The aggregate of a coin's records within one interval."""

    coin: str
    interval: str
    start: datetime
    open: float
    open_at: datetime
    high: float
    low: float
    close: float
    close_at: datetime
    market_cap: float
    volume_24h: float | None
    deviation: float | None
    deviation_at: datetime | None
    count: int


class BucketReader(Protocol):
    """Buckets or MemoryBuckets, as a history answer reads them."""

    def query(
        self, coin: str, interval: str, since: datetime, until: datetime | None = None
    ) -> list[Bucket]: ...


class BucketConflict(StoreUnavailable):
    """A bucket kept changing under this writer; the record was not aggregated."""


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except PyMongoError as exc:
        raise StoreUnavailable(f"data store unavailable ({type(exc).__name__})") from exc


def max_days(interval: str) -> int:
    """Return the most days an interval covers within MAX_POINTS buckets (5m: 3)."""
    return MAX_POINTS * INTERVALS[interval] // DAY_SECONDS


def choose_interval(days: int, interval: str | None = None) -> str:
    """Return the finest interval with at most MAX_POINTS buckets over `days`, or check one.

    Raises InvalidRequest (400) for an unknown interval or one too fine for `days`, naming the
    largest `days` it allows.
    """
    if interval is None:
        for name in INTERVALS:
            if days <= max_days(name):
                return name
        return list(INTERVALS)[-1]
    if interval not in INTERVALS:
        raise InvalidRequest(
            f"query parameter 'interval' must be one of: {', '.join(INTERVALS)}",
            intervals=list(INTERVALS),
        )
    allowed = max_days(interval)
    if days > allowed:
        raise InvalidRequest(
            f"interval {interval!r} gives more than {MAX_POINTS} points over {days} days; "
            f"it allows at most days={allowed}",
            interval=interval,
            maxDays=allowed,
        )
    return interval


def bucket_start(moment: datetime, interval: str) -> datetime:
    """Return the start of the interval's bucket a moment falls in (UTC, aligned to the epoch)."""
    width = INTERVALS[interval]
    seconds = int((moment.astimezone(UTC) - EPOCH).total_seconds() // width * width)
    return EPOCH + timedelta(seconds=seconds)


def bucket_id(coin: str, interval: str, start: datetime) -> str:
    """Return the `_id` of a coin's bucket: `coin|interval|start`."""
    return f"{coin}|{interval}|{to_bson_time(start).isoformat(timespec='seconds')}"


def merge(bucket: Bucket | None, record: BucketInput, interval: str) -> Bucket:
    """Return the bucket with one more record (None: the bucket the record opens)."""
    at, price = from_bson_time(to_bson_time(record.observed_at)), record.price
    if bucket is None:
        return Bucket(
            coin=record.coin,
            interval=interval,
            start=bucket_start(at, interval),
            open=price,
            open_at=at,
            high=price,
            low=price,
            close=price,
            close_at=at,
            market_cap=record.market_cap,
            volume_24h=record.volume_24h,
            deviation=record.deviation,
            deviation_at=at if record.deviation is not None else None,
            count=1,
        )
    changes: dict[str, Any] = {
        "high": max(bucket.high, price),
        "low": min(bucket.low, price),
        "count": bucket.count + 1,
    }
    if at < bucket.open_at:
        changes.update(open=price, open_at=at)
    if at > bucket.close_at:
        changes.update(
            close=price, close_at=at, market_cap=record.market_cap, volume_24h=record.volume_24h
        )
    if record.deviation is not None and (bucket.deviation_at is None or at > bucket.deviation_at):
        changes.update(deviation=record.deviation, deviation_at=at)
    return replace(bucket, **changes)


class Buckets:
    """Every coin's buckets, in one collection per interval of a MongoDB (or mongomock) database."""

    def __init__(self, database: Any) -> None:
        self.collections = {name: database[f"buckets_{name}"] for name in INTERVALS}

    def ensure_indexes(self) -> None:
        """Create the (coin, start) index each query uses, and the 5m pruning's; idempotent."""
        with _store_errors():
            for collection in self.collections.values():
                collection.create_index(
                    [("coin", pymongo.ASCENDING), ("start", pymongo.ASCENDING)], name="coin_start"
                )
            self.collections["5m"].create_index([("start", pymongo.ASCENDING)], name="start")

    def prune(self, now: datetime, step: int = REMOVE_STEP) -> int:
        """Drop at most `step` 5-minute buckets older than FINE_BUCKET_DAYS; return how many."""
        cutoff = to_bson_time(now - timedelta(days=FINE_BUCKET_DAYS))
        collection = self.collections["5m"]
        with _store_errors():
            ids = [
                d["_id"]
                for d in collection.find({"start": {"$lt": cutoff}}, {"_id": 1}).limit(step)
            ]
            if not ids:
                return 0
            return int(collection.delete_many({"_id": {"$in": ids}}).deleted_count)

    def add(self, record: BucketInput) -> None:
        """Aggregate one newly stored record into its three buckets."""
        self.add_many([record])

    def add_many(self, records: Iterable[BucketInput]) -> int:
        """Aggregate newly stored records (any order); return how many buckets were written.

        Give each record once: `count` counts the records given, and only they are idempotent.
        """
        records = list(records)
        written = 0
        for interval in INTERVALS:
            groups: dict[str, list[BucketInput]] = {}
            for record in records:
                start = bucket_start(record.observed_at, interval)
                groups.setdefault(bucket_id(record.coin, interval, start), []).append(record)
            with _store_errors():
                written += self._write(interval, groups)
        return written

    def query(
        self, coin: str, interval: str, since: datetime, until: datetime | None = None
    ) -> list[Bucket]:
        """Return a coin's buckets from the one holding `since` up to `until`, oldest first."""
        bounds: dict[str, datetime] = {"$gte": to_bson_time(bucket_start(since, interval))}
        if until is not None:
            bounds["$lte"] = to_bson_time(until)
        with _store_errors():
            cursor = (
                self.collections[interval]
                .find({"coin": coin, "start": bounds})
                .sort("start", pymongo.ASCENDING)
                .limit(MAX_POINTS + 1)
            )
            return [to_bucket(doc) for doc in cursor]

    def _write(self, interval: str, groups: dict[str, list[BucketInput]]) -> int:
        collection = self.collections[interval]
        ids = list(groups)
        for first in range(0, len(ids), LOAD_CHUNK):
            chunk = ids[first : first + LOAD_CHUNK]
            stored = {doc["_id"]: doc for doc in collection.find({"_id": {"$in": chunk}})}
            for key in chunk:
                self._swap(collection, key, interval, groups[key], stored.get(key))
        return len(ids)

    def _swap(
        self,
        collection: Any,
        key: str,
        interval: str,
        records: Sequence[BucketInput],
        doc: dict[str, Any] | None,
    ) -> None:
        for _ in range(CAS_ATTEMPTS):
            current = to_bucket(doc) if doc is not None else None
            merged = current
            for record in records:
                merged = merge(merged, record, interval)
            assert merged is not None
            if doc is None:
                try:
                    collection.insert_one({"_id": key, **to_document(merged), "version": 1})
                    return
                except DuplicateKeyError:
                    pass
            else:
                version = doc["version"]
                result = collection.update_one(
                    {"_id": key, "version": version},
                    {"$set": {**to_document(merged), "version": version + 1}},
                )
                if result.matched_count == 1:
                    return
            doc = collection.find_one({"_id": key})
        raise BucketConflict(f"bucket {key} changed {CAS_ATTEMPTS} times while merging")


class MemoryBuckets:
    """The embedded store's buckets: in the API process, which is the only one with that store.

    mongomock scans a whole collection on every operation, so its bucket reads and writes would
    grow with the history; these cost O(log n + returned) to read and O(log n) to write, with the
    same `merge`, the same `query` answers and the same Bucket values as `Buckets`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], tuple[list[datetime], dict[datetime, Bucket]]] = {}

    def ensure_indexes(self) -> None:
        """Nothing to create (kept for the same interface as Buckets)."""

    def add(self, record: BucketInput) -> None:
        """Aggregate one newly stored record into its three buckets."""
        self.add_many([record])

    def add_many(self, records: Iterable[BucketInput]) -> int:
        """Aggregate newly stored records (any order); return how many buckets were written."""
        touched: set[tuple[str, str, datetime]] = set()
        with self._lock:
            for record in records:
                for interval in INTERVALS:
                    starts, by_start = self._series.setdefault((record.coin, interval), ([], {}))
                    start = bucket_start(record.observed_at, interval)
                    current = by_start.get(start)
                    if current is None:
                        bisect.insort(starts, start)
                    by_start[start] = merge(current, record, interval)
                    touched.add((record.coin, interval, start))
        return len(touched)

    def query(
        self, coin: str, interval: str, since: datetime, until: datetime | None = None
    ) -> list[Bucket]:
        """Return a coin's buckets from the one holding `since` up to `until`, oldest first."""
        with self._lock:
            starts, by_start = self._series.get((coin, interval), ([], {}))
            first = bisect.bisect_left(starts, bucket_start(since, interval))
            last = len(starts) if until is None else bisect.bisect_right(starts, until)
            last = min(last, first + MAX_POINTS + 1)
            return [by_start[start] for start in starts[first:last]]

    def prune(self, now: datetime, step: int = REMOVE_STEP) -> int:
        """Drop at most `step` 5-minute buckets older than FINE_BUCKET_DAYS; return how many."""
        return self.remove_before("5m", now - timedelta(days=FINE_BUCKET_DAYS), step)

    def remove_before(self, interval: str, cutoff: datetime, step: int) -> int:
        """Drop at most `step` buckets of an interval starting before `cutoff`; return how many."""
        removed = 0
        with self._lock:
            for starts, by_start in (
                series for (_, name), series in self._series.items() if name == interval
            ):
                count = min(bisect.bisect_left(starts, cutoff), step - removed)
                for start in starts[:count]:
                    del by_start[start]
                del starts[:count]
                removed += count
        return removed


def open_buckets(database: Any, *, embedded: bool) -> Buckets | MemoryBuckets:
    """Return the buckets of a store: in MongoDB, or in this process for the embedded store."""
    return MemoryBuckets() if embedded else Buckets(database)


def to_document(bucket: Bucket) -> dict[str, Any]:
    """Return a bucket's stored fields (without `_id` and `version`)."""
    return {
        "coin": bucket.coin,
        "interval": bucket.interval,
        "start": to_bson_time(bucket.start),
        "open": bucket.open,
        "openAt": to_bson_time(bucket.open_at),
        "high": bucket.high,
        "low": bucket.low,
        "close": bucket.close,
        "closeAt": to_bson_time(bucket.close_at),
        "marketCap": bucket.market_cap,
        "volume24h": bucket.volume_24h,
        "deviation": bucket.deviation,
        "deviationAt": None if bucket.deviation_at is None else to_bson_time(bucket.deviation_at),
        "count": bucket.count,
    }


def to_bucket(doc: dict[str, Any]) -> Bucket:
    """Return the bucket a stored document holds."""
    deviation_at = doc.get("deviationAt")
    return Bucket(
        coin=doc["coin"],
        interval=doc["interval"],
        start=from_bson_time(doc["start"]),
        open=float(doc["open"]),
        open_at=from_bson_time(doc["openAt"]),
        high=float(doc["high"]),
        low=float(doc["low"]),
        close=float(doc["close"]),
        close_at=from_bson_time(doc["closeAt"]),
        market_cap=float(doc["marketCap"]),
        volume_24h=None if doc.get("volume24h") is None else float(doc["volume24h"]),
        deviation=None if doc.get("deviation") is None else float(doc["deviation"]),
        deviation_at=None if deviation_at is None else from_bson_time(deviation_at),
        count=int(doc["count"]),
    )
