"""Retention of raw history records: who may go, and removing them in bounded steps.

One rule for both stores, carried by one field: a raw record may be removed once its `expireAt`
has passed, and a record without `expireAt` is kept.

- A backfilled record gets `expireAt = observedAt + HISTORY_RETENTION_DAYS` when stored.
- A trigger record is stored WITHOUT `expireAt` and gets it when it leaves the coin's deviation
  window (`left_window`: the snapshot rolls its newest 100 prices forward at each ingest, and
  what falls out is known there, O(1)). So the newest 100 trigger records are never removed,
  whatever their age.
- MongoDB removes expired records itself through a TTL index on `expireAt` (`ttl_index`,
  created by `Store.ensure_indexes`). The embedded store lives and dies with its API process, so
  `EmbeddedRetention` keeps an in-process index of its records' times (complete by construction)
  and removes due records at ingest, at most `REMOVE_STEP` per step (mongomock scans a collection
  on every query, so steps run only when something is due, at most once per `SWEEP_SECONDS`
  unless a full step is due).
- Buckets stay, except the 5-minute ones older than `FINE_BUCKET_DAYS`, which no answer reads
  (`5m` serves at most 3 days).
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pymongo

from api_server.deviation import DEVIATION_WINDOW
from api_server.store import EXPIRE_FIELD, history_id, to_bson_time

DEFAULT_RETENTION_DAYS = 400
"""HISTORY_RETENTION_DAYS when unset; 0 keeps every record."""

REMOVE_STEP = 500
"""Most records one removal step deletes, so an ingest never stalls on a large backlog."""

FINE_BUCKET_DAYS = 4
"""Days of 5-minute buckets kept (the 5m interval answers at most 3 days)."""

TTL_INDEX_NAME = "expireAt_ttl"

SWEEP_SECONDS = 3600
"""Least time between two removal steps on the embedded store, unless REMOVE_STEP are due."""

log = logging.getLogger(__name__)


def expire_at(observed_at: datetime, retention_days: int) -> datetime | None:
    """Return when a record observed at a moment may go, or None when retention is off."""
    if retention_days <= 0:
        return None
    return observed_at + timedelta(days=retention_days)


def left_window(
    before: Sequence[tuple[datetime, float]], after: Sequence[tuple[datetime, float]]
) -> list[datetime]:
    """Return the times of the deviation window's points that the roll pushed out."""
    kept = {moment for moment, _ in after}
    return [moment for moment, _ in before if moment not in kept]


def expiry_updates(
    coin: str, times: Sequence[datetime], retention_days: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Return the `update_one` (filter, update) pairs that give left-window records an expiry."""
    updates = []
    for moment in times:
        expiry = expire_at(moment, retention_days)
        if expiry is not None:
            updates.append(
                ({"_id": history_id(coin, moment)}, {"$set": {EXPIRE_FIELD: to_bson_time(expiry)}})
            )
    return updates


def removable(
    records_newest_first: Sequence[tuple[datetime, bool]],
    now: datetime,
    retention_days: int,
    keep_newest: int = DEVIATION_WINDOW,
) -> list[datetime]:
    """Plan a removal: times of (observedAt, backfill) records older than the retention.

    The newest `keep_newest` trigger (not backfill) records are never planned.
    """
    if retention_days <= 0:
        return []
    cutoff = now - timedelta(days=retention_days)
    triggers_seen = 0
    planned = []
    for moment, backfilled in records_newest_first:
        if not backfilled:
            triggers_seen += 1
            if triggers_seen <= keep_newest:
                continue
        if moment < cutoff:
            planned.append(moment)
    return planned


@dataclass(frozen=True)
class IndexSpec:
    """Arguments of `collection.create_index(spec.keys, **spec.options)`."""

    keys: list[tuple[str, int]]
    options: dict[str, Any]


def ttl_index(retention_days: int) -> IndexSpec | None:
    """Return MongoDB's TTL index on `expireAt`, or None when retention is off.

    With `expireAfterSeconds` 0 MongoDB removes a document once its `expireAt` date has passed
    (documents without the field are kept); its TTL monitor runs every 60 s in bounded batches.
    """
    if retention_days <= 0:
        return None
    return IndexSpec(
        keys=[(EXPIRE_FIELD, pymongo.ASCENDING)],
        options={"name": TTL_INDEX_NAME, "expireAfterSeconds": 0},
    )


def mark_backlog_step(
    collection: Any,
    coin: str,
    window_oldest: datetime,
    retention_days: int,
    step: int = REMOVE_STEP,
) -> int:
    """Give at most `step` records from before this scheme an `expireAt`; return how many.

    Records older than `window_oldest` (the oldest of the coin's deviation window) are outside
    the newest 100, so they may expire; run at ingest until it returns 0.
    """
    if retention_days <= 0:
        return 0
    query = {
        "coin": coin,
        "observedAt": {"$lt": to_bson_time(window_oldest)},
        EXPIRE_FIELD: {"$exists": False},
    }
    marked = 0
    for doc in collection.find(query, {"observedAt": 1}).limit(step):
        expiry = doc["observedAt"] + timedelta(days=retention_days)
        collection.update_one({"_id": doc["_id"]}, {"$set": {EXPIRE_FIELD: expiry}})
        marked += 1
    return marked


def remove_expired_step(collection: Any, now: datetime, step: int = REMOVE_STEP) -> int:
    """Delete at most `step` raw records whose `expireAt` has passed; return how many."""
    return _remove_step(collection, {EXPIRE_FIELD: {"$lte": to_bson_time(now)}}, step)


def remove_fine_buckets_step(collection: Any, now: datetime, step: int = REMOVE_STEP) -> int:
    """Delete at most `step` 5-minute buckets older than FINE_BUCKET_DAYS; return how many."""
    cutoff = to_bson_time(now - timedelta(days=FINE_BUCKET_DAYS))
    return _remove_step(collection, {"start": {"$lt": cutoff}}, step)


def _remove_step(collection: Any, query: dict[str, Any], step: int) -> int:
    ids = [doc["_id"] for doc in collection.find(query, {"_id": 1}).limit(step)]
    if not ids:
        return 0
    return int(collection.delete_many({"_id": {"$in": ids}}).deleted_count)


class EmbeddedRetention:
    """Removes the embedded store's raw records older than the retention, in bounded steps."""

    def __init__(self, collection: Any, retention_days: int, *, step: int = REMOVE_STEP) -> None:
        self.collection = collection
        self.retention_days = retention_days
        self.step_size = step
        self._times: dict[str, list[tuple[datetime, bool]]] = {}
        self._last_sweep: datetime | None = None
        self._lock = threading.Lock()

    def track(self, coin: str, observed_at: datetime, backfilled: bool) -> None:
        """Note a newly stored record (O(log n))."""
        if self.retention_days > 0:
            with self._lock:
                bisect.insort(self._times.setdefault(coin, []), (observed_at, backfilled))

    def due(self, now: datetime) -> int:
        """Return how many tracked records are older than the retention (kept ones included)."""
        cutoff = (now - timedelta(days=self.retention_days),)
        with self._lock:
            return sum(bisect.bisect_left(times, cutoff) for times in self._times.values())

    def step(self, now: datetime, window_oldest: Mapping[str, datetime]) -> int:
        """Remove at most one step of due records; return how many were removed.

        `window_oldest` maps each coin to the oldest record of its deviation window: trigger
        records from then on are the newest 100 and are never removed.
        """
        if self.retention_days <= 0:
            return 0
        due = self.due(now)
        recent = self._last_sweep is not None and now - self._last_sweep < timedelta(
            seconds=SWEEP_SECONDS
        )
        if due == 0 or (recent and due < self.step_size):
            return 0
        self._last_sweep = now
        cutoff = now - timedelta(days=self.retention_days)
        with self._lock:
            ids = self._plan(cutoff, window_oldest)
        if ids:
            self.collection.delete_many({"_id": {"$in": ids}})
            log.info("retention removed %d records older than %s", len(ids), cutoff.isoformat())
        return len(ids)

    def _plan(self, cutoff: datetime, window_oldest: Mapping[str, datetime]) -> list[str]:
        ids: list[str] = []
        for coin, times in self._times.items():
            protected = window_oldest.get(coin)
            end = bisect.bisect_left(times, (cutoff,))
            kept: list[tuple[datetime, bool]] = []
            seen = 0
            while seen < end and len(ids) < self.step_size:
                moment, backfilled = times[seen]
                seen += 1
                if not backfilled and protected is not None and moment >= protected:
                    kept.append((moment, backfilled))  # one of the newest 100 trigger records
                else:
                    ids.append(history_id(coin, moment))
            times[:seen] = kept
        return ids
