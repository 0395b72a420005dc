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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis

from api_server.announcement import Announcement
from api_server.claim import IngestClaim
from api_server.coingecko import FetchResult
from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.errors import StoreUnavailable, UpstreamError
from api_server.redis_keys import ingested_channel
from api_server.report import IngestReport, log_report
from api_server.snapshots import next_snapshot, rebuild_snapshot
from api_server.store import Store
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
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
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
        """Append each observation to the history and roll its coin's snapshot forward."""
        previous = self.store.snapshots(with_window=True)
        for obs in observations:
            added = self.store.add_observation(obs)
            (report.stored if added else report.duplicates).append(obs.coin)
            self._save_snapshot(obs, added, previous.get(obs.coin), labels.get(obs.coin))

    def apply(self, observations: list[Observation], labels: dict[str, CoinLabel]) -> None:
        """Store a batch another embedded-store process fetched, then announce it here."""
        report = IngestReport(reason="replica", started_at=self.now(), source="replica")
        with self._lock:
            try:
                self.store_batch(observations, labels, report)
            except StoreUnavailable as exc:
                log.error("could not store a replicated batch: %s", exc.message)
                return
        if report.stored:
            self._announce(None)
            self._tell_stored([obs for obs in observations if obs.coin in set(report.stored)])

    def _save_snapshot(
        self, obs: Observation, added: bool, previous: Snapshot | None, label: CoinLabel | None
    ) -> None:
        label = label or CoinLabel()
        if previous is None or not previous.window:
            # First record, or a snapshot from before windows: read the newest back once.
            rebuild_snapshot(self.store, obs.coin, label, self.now())
            return
        self.store.save_snapshot(
            next_snapshot(previous, obs, added=added, label=label, now=self.now())
        )

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
        self, batch: list[Observation] | None, labels: dict[str, CoinLabel] | None = None
    ) -> None:
        try:
            self.redis.publish(self.channel, Announcement(self.origin, batch, labels).encode())
        except redis.RedisError as exc:
            log.warning("could not announce the ingest to other processes: %s", exc)
