"""One ingest: claim the fetch in Redis, fetch upstream, store valid records, refresh snapshots."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from api_server.coingecko import FetchResult
from api_server.errors import StoreUnavailable, UpstreamError
from api_server.latest import LatestView
from api_server.stats import DEVIATION_WINDOW, price_deviation
from api_server.store import Observation, Snapshot, Store
from cryptostats.config import CoinSpec, Settings
from cryptostats.messages import claim_key, ingested_channel

log = logging.getLogger(__name__)

RECENT_INGESTS = 20
"""How many ingest summaries each process keeps in memory for status reports."""


class MarketSource(Protocol):
    """Where quotes come from (CoinGecko's client, or a fake in tests)."""

    source: str

    def fetch(self, coins: tuple[CoinSpec, ...]) -> FetchResult: ...


@dataclass
class IngestReport:
    """What one ingest did, for logs, the ingest log and status endpoints."""

    reason: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = "running"
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    upstream_calls: int = 0
    errors: list[str] = field(default_factory=list)
    source: str = ""
    error_kind: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON- and BSON-friendly dict."""
        return {
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "outcome": self.outcome,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "upstreamCalls": self.upstream_calls,
            "errors": self.errors,
            "source": self.source,
            "pid": os.getpid(),
        }


class Ingestor:
    """Turns a trigger into stored records, at most one upstream fetch per claim window."""

    def __init__(
        self,
        *,
        settings: Settings,
        source: MarketSource,
        store: Store,
        redis_client: redis.Redis,
        view: LatestView,
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
        self.redis = redis_client
        self.view = view
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.recent: deque[IngestReport] = deque(maxlen=RECENT_INGESTS)
        self.listeners: list[Callable[[IngestReport], None]] = []
        """Called with every finished report (metrics)."""
        self._lock = threading.Lock()

    def ingest(self, reason: str) -> IngestReport | None:
        """Fetch and store once if this process wins the claim; return the report or None."""
        if not self._claim():
            log.debug("ingest (%s) skipped: another process holds the claim", reason)
            return None
        with self._lock:
            return self._ingest(reason)

    def ingest_if_stale(self, reason: str) -> IngestReport | None:
        """Ingest when some tracked coin has no data or the newest is older than one interval."""
        try:
            snapshots = self.store.snapshots()
        except StoreUnavailable as exc:
            log.warning("cannot tell data age (%s); fetching anyway", exc.message)
            return self.ingest(reason)
        tracked = self.settings.coin_names
        missing = [coin for coin in tracked if coin not in snapshots]
        if missing:
            log.info("no data yet for %s: fetching now (%s)", ", ".join(missing), reason)
            return self.ingest(reason)
        newest = max(snapshots[coin].updated_at for coin in tracked)
        age = (datetime.now(UTC) - newest).total_seconds()
        if age > self.settings.update_interval_seconds:
            log.info(
                "newest data is %.0f s old (interval %d s): fetching now (%s)",
                age,
                self.settings.update_interval_seconds,
                reason,
            )
            return self.ingest(reason)
        self.view.refresh()
        return None

    def _claim(self) -> bool:
        window_ms = max(1, int(self.settings.ingest_claim_seconds * 1000))
        key = claim_key(self.settings.redis_channel)
        try:
            return bool(self.redis.set(key, self.owner, nx=True, px=window_ms))
        except redis.RedisError as exc:
            # Without Redis nobody can coordinate; the unique index still prevents duplicates.
            log.warning("cannot claim the fetch in Redis (%s); fetching anyway", exc)
            return True

    def _ingest(self, reason: str) -> IngestReport:
        report = IngestReport(
            reason=reason, started_at=datetime.now(UTC), source=self.source.source
        )
        try:
            result = self.source.fetch(self.settings.coins)
            report.upstream_calls = result.calls
            report.skipped = dict(result.skipped)
            for coin, why in result.skipped.items():
                log.warning("skipped %s: %s", coin, why)
            self._store(result, report)
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
        report.finished_at = datetime.now(UTC)
        self.recent.appendleft(report)
        self._finish(report)
        return report

    def _store(self, result: FetchResult, report: IngestReport) -> None:
        for quote in result.quotes:
            obs = Observation(
                coin=quote.coin,
                observed_at=quote.observed_at,
                price=quote.price,
                market_cap=quote.market_cap,
                change_24h=quote.change_24h,
                source=self.source.source,
            )
            if self.store.add_observation(obs):
                report.stored.append(quote.coin)
            else:
                report.duplicates.append(quote.coin)
        for quote in result.quotes:
            self._update_snapshot(quote.coin, symbol=quote.symbol, name=quote.name)

    def _update_snapshot(self, coin: str, *, symbol: str = "", name: str = "") -> None:
        recent = self.store.recent_observations(coin, DEVIATION_WINDOW)
        if not recent:
            return
        newest = recent[0]
        self.store.save_snapshot(
            Snapshot(
                coin=coin,
                price=newest.price,
                market_cap=newest.market_cap,
                change_24h=newest.change_24h,
                deviation=price_deviation([obs.price for obs in recent]),
                samples=len(recent),
                observed_at=newest.observed_at,
                updated_at=datetime.now(UTC),
                source=newest.source,
                symbol=symbol,
                name=name,
            )
        )

    def _finish(self, report: IngestReport) -> None:
        took_ms = round(
            ((report.finished_at or report.started_at) - report.started_at).total_seconds() * 1000,
            1,
        )
        log.info(
            "ingest %s (%s): stored=%d duplicates=%d skipped=%d upstream_calls=%d in %.0f ms",
            report.outcome,
            report.reason,
            len(report.stored),
            len(report.duplicates),
            len(report.skipped),
            report.upstream_calls,
            took_ms,
            extra={
                "event": "ingest",
                "outcome": report.outcome,
                "reason": report.reason,
                "stored": len(report.stored),
                "duplicates": len(report.duplicates),
                "skipped": len(report.skipped),
                "upstream_calls": report.upstream_calls,
                "duration_ms": took_ms,
                "source": report.source,
            },
        )
        for listener in self.listeners:
            listener(report)
        try:
            self.store.record_ingest(report.to_dict())
        except StoreUnavailable as exc:
            log.warning("could not record the ingest summary: %s", exc.message)
        self.view.refresh()
        if report.stored:
            try:
                self.redis.publish(ingested_channel(self.settings.redis_channel), str(time.time()))
            except redis.RedisError as exc:
                log.warning("could not announce the ingest to other processes: %s", exc)
