"""The write path, in one direction: claim -> fetch -> validate -> store -> publish "ingested".

The Ingestor never touches the read model: every process's read model listens for the
"ingested" announcement (read_model.py). With the embedded store, whose data lives in one
process only, the announcement carries the stored observations so that every other embedded
API process on the channel stores them too (`apply`): every process serves every new price.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import redis

from api_server.announcement import Announcement
from api_server.backfill import BackfillRecord
from api_server.backfill_store import MongoHistory
from api_server.buckets import Buckets, MemoryBuckets
from api_server.claim import IngestClaim
from api_server.coingecko import FetchResult
from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.errors import StoreUnavailable, UpstreamError
from api_server.redis_keys import ingested_channel
from api_server.report import IngestReport, log_report
from api_server.retention import EmbeddedRetention, left_window
from api_server.snapshots import next_snapshot, rebuild_snapshot
from api_server.store import HISTORY, Store
from cryptostats.config import Settings, TrackedCoin

log = logging.getLogger(__name__)

RECENT_INGESTS = 20
"""How many ingest reports each process keeps in memory for when the store is unreachable."""


class MarketSource(Protocol):
    """Where observations come from (CoinGecko's client, or a fake in tests)."""

    source: str

    def fetch(self, coins: tuple[TrackedCoin, ...]) -> FetchResult: ...


@dataclass(frozen=True)
class CatchUp:
    """What a catch-up did: its report, or when to try again (the claim was held)."""

    report: IngestReport | None = None
    retry_in: float | None = None


class Ingestor:
    """Turns a trigger into stored records, at most one upstream fetch per claim."""

    def __init__(
        self,
        *,
        settings: Settings,
        source: MarketSource,
        store: Store,
        claim: IngestClaim,
        redis_client: redis.Redis,
        origin: str,
        buckets: Buckets | MemoryBuckets | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
        self.buckets = buckets if buckets is not None else MemoryBuckets()
        """Kept current with every stored record (trigger, backfill, replica), O(1) each."""
        days = settings.history_retention_days
        self.history = MongoHistory(store.db, retention_days=days)
        """Where backfilled records are written (same collection and keys as trigger records)."""
        self.retention = EmbeddedRetention(store.db[HISTORY], days) if store.embedded else None
        """The embedded store's record removal; MongoDB's TTL index needs none."""
        self.claim = claim
        self.redis = redis_client
        self.origin = origin
        """Who announces: lets a process recognise its own announcements."""
        self.now = now
        self.channel = ingested_channel(settings.redis_channel)
        self.recent: deque[IngestReport] = deque(maxlen=RECENT_INGESTS)
        self.listeners: list[Callable[[IngestReport], None]] = []
        """Called with every finished report (metrics)."""
        self.stored_listeners: list[Callable[[list[Observation]], None]] = []
        """Called, after the announcement, with the observations a live ingest stored (alerts)."""
        self._lock = threading.Lock()

    def ingest(self, reason: str) -> IngestReport | None:
        """Fetch and store once if this process wins the claim; return the report or None."""
        lease = self.claim.acquire()
        if lease is None:
            log.debug("ingest (%s) skipped: another ingest holds the claim", reason)
            return None
        try:
            with self._lock:
                return self.run(reason)
        finally:
            self.claim.release(lease)

    def catch_up(self, reason: str) -> CatchUp:
        """Ingest when a tracked coin has no data or the newest is older than one interval."""
        if not self.is_stale(reason):
            return CatchUp()
        report = self.ingest(reason)
        if report is None:
            wait = self.claim.retry_in()
            log.info("catch-up (%s) skipped: the claim is held; retrying in %.2f s", reason, wait)
            return CatchUp(retry_in=wait)
        return CatchUp(report=report)

    def is_stale(self, reason: str) -> bool:
        """Whether some tracked coin has no data, or the newest is older than one interval."""
        try:
            snapshots = self.store.snapshots()
        except StoreUnavailable as exc:
            log.warning("cannot tell data age (%s); fetching anyway", exc.message)
            return True
        tracked = self.settings.coin_names
        missing = [coin for coin in tracked if coin not in snapshots]
        if missing:
            log.info("no data yet for %s: fetching now (%s)", ", ".join(missing), reason)
            return True
        age = (self.now() - max(snapshots[coin].updated_at for coin in tracked)).total_seconds()
        if age > self.settings.update_interval_seconds:
            log.info(
                "newest data is %.0f s old (interval %d s): fetching now (%s)",
                age,
                self.settings.update_interval_seconds,
                reason,
            )
            return True
        return False

    def run(self, reason: str) -> IngestReport:
        """Fetch, store and announce once, without the claim (the caller holds it)."""
        report = IngestReport(reason=reason, started_at=self.now(), source=self.source.source)
        result = FetchResult()
        try:
            result = self.source.fetch(self.settings.coins)
            report.upstream_calls = result.calls
            report.skipped = dict(result.skipped)
            for coin, why in result.skipped.items():
                log.warning("skipped %s: %s", coin, why)
            self.store_batch(result.observations, result.labels, report)
            report.outcome = "ok" if not report.skipped else "partial"
        except UpstreamError as exc:
            report.outcome = "upstream_error"
            report.error_kind = exc.kind
            report.upstream_calls = exc.calls
            report.errors.append(str(exc))
            log.error("upstream fetch failed (%s); nothing stored, next trigger retries", exc)
        except StoreUnavailable as exc:
            report.outcome = "store_error"
            report.errors.append(exc.message)
            log.error("store write failed (%s); next trigger retries", exc.message)
        report.finished_at = self.now()
        self._finish(report, result.observations if report.stored else [], result.labels)
        return report

    def store_batch(
        self,
        observations: list[Observation],
        labels: dict[str, CoinLabel],
        report: IngestReport,
    ) -> None:
        """Store each record with the deviation served after it; roll snapshots and buckets."""
        previous = self.store.snapshots(with_window=True)
        stored: list[Observation] = []
        for obs in observations:
            record, snapshot, added = self._store_one(obs, previous.get(obs.coin), labels)
            (report.stored if added else report.duplicates).append(obs.coin)
            if added:
                stored.append(record)
            if snapshot is not None:
                previous[obs.coin] = snapshot
        if stored:
            self.buckets.add_many(stored)
            self.store.touch_series([record.coin for record in stored], self.now())
            self._retain(stored, previous)

    def backfilled(self, added: Sequence[BackfillRecord], *, announce: bool = True) -> int:
        """Aggregate newly stored backfilled records and tell every process; return how many.

        No ingest lock: records are stored once by key and buckets merge safely, so a backfill
        never holds up a trigger.
        """
        if not added:
            return 0
        self.buckets.add_many(added)
        self.store.touch_series([record.coin for record in added], self.now())
        if self.retention is not None:
            for record in added:
                self.retention.track(record.coin, record.observed_at, True)
        if announce:
            self._announce(None, backfill=list(added) if self.store.embedded else None)
        return len(added)

    def apply(
        self,
        observations: list[Observation],
        labels: dict[str, CoinLabel],
        backfill: list[BackfillRecord] | None = None,
    ) -> None:
        """Store a batch another embedded-store process fetched, then announce it here."""
        report = IngestReport(reason="replica", started_at=self.now(), source="replica")
        try:
            if backfill:
                self.backfilled(self.history.add_records(backfill), announce=False)
            with self._lock:
                self.store_batch(observations, labels, report)
        except StoreUnavailable as exc:
            log.error("could not store a replicated batch: %s", exc.message)
            return
        if report.stored or backfill:
            self._announce(None)
            self._tell_stored([obs for obs in observations if obs.coin in set(report.stored)])

    def _store_one(
        self, obs: Observation, previous: Snapshot | None, labels: dict[str, CoinLabel]
    ) -> tuple[Observation, Snapshot | None, bool]:
        """Store one record; return it (with its deviation), the coin's snapshot, and if new."""
        label = labels.get(obs.coin) or CoinLabel()
        now = self.now()
        if previous is None or not previous.window:
            # First record, or a snapshot from before windows: read the newest back once.
            added = self.store.add_observation(obs)
            snapshot = rebuild_snapshot(self.store, obs.coin, label, now)
            record = replace(obs, deviation=snapshot.deviation if snapshot else None)
            if added and snapshot is not None:
                self.store.set_deviation(record)
            return record, snapshot, added
        after = next_snapshot(previous, obs, added=True, label=label, now=now)
        record = replace(obs, deviation=after.deviation)
        added = self.store.add_observation(record)
        if added:
            gone = left_window(previous.window, after.window)
            self.store.expire_records(obs.coin, gone, self.settings.history_retention_days)
        else:
            after = next_snapshot(previous, obs, added=False, label=label, now=now)
        self.store.save_snapshot(after)
        return record, after, added

    def _retain(self, stored: list[Observation], snapshots: dict[str, Snapshot]) -> None:
        """Embedded store: track the new records and remove one bounded step of old ones."""
        self.buckets.prune(self.now())
        if self.retention is None:
            return
        for record in stored:
            self.retention.track(record.coin, record.observed_at, False)
        oldest = {coin: snap.window[-1][0] for coin, snap in snapshots.items() if snap.window}
        self.retention.step(self.now(), oldest)

    def _finish(
        self, report: IngestReport, stored: list[Observation], labels: dict[str, CoinLabel]
    ) -> None:
        self.recent.appendleft(report)
        log_report(report)
        for listener in self.listeners:
            listener(report)
        try:
            self.store.record_ingest(report)
        except StoreUnavailable as exc:
            log.warning("could not record the ingest summary: %s", exc.message)
        if report.stored:
            added = set(report.stored)
            batch = [obs for obs in stored if obs.coin in added]
            self._announce(batch if self.store.embedded else None, labels)
            self._tell_stored(batch)

    def _tell_stored(self, observations: list[Observation]) -> None:
        for listener in self.stored_listeners:
            listener(observations)

    def _announce(
        self,
        batch: list[Observation] | None,
        labels: dict[str, CoinLabel] | None = None,
        *,
        backfill: list[BackfillRecord] | None = None,
    ) -> None:
        message = Announcement(self.origin, batch, labels, backfill)
        try:
            self.redis.publish(self.channel, message.encode())
        except redis.RedisError as exc:
            log.warning("could not announce the ingest to other processes: %s", exc)


class BackfillSink:
    """The Backfiller's bucket writer: what follows newly stored backfilled records."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def add_many(self, records: Sequence[BackfillRecord]) -> int:
        """Aggregate them into buckets, track their retention and announce them."""
        return self.ingestor.backfilled(records)
