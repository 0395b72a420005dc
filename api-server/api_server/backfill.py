"""Backfill: fill each tracked coin's history back `BACKFILL_DAYS` days from the market chart.

- `plan_backfill` (pure) picks the coins whose stored series does not reach back far enough and,
  for each, the moment before which points are missing (its oldest stored record).
- `Backfiller.run` fetches one chart per planned coin, spaced by a `CallSpacer`, keeps the points
  older than that moment, and writes them NEWEST FIRST through the injected `HistoryWriter`, then
  into the `BucketWriter`. Writing newest first keeps the oldest stored time a true watermark:
  whatever stops a run (a crash, a 429, a restart), the next plan asks only for what is missing,
  and a second run over a complete history fetches and stores nothing.
- Backfilled records carry `deviation=None` and `backfill=True`: they feed history, charts and
  trend answers, never the deviation of the newest 100 trigger records, and never an alert.
- A per-coin failure (unknown id, history limit, an error body) skips that coin; a transport
  failure (429, 5xx, timeouts that the session's retries did not overcome) stops the run and
  leaves the remaining coins `pending` for the next one, as the trigger path leaves them for the
  next trigger. The report has the shape of an ingest report with `reason` `backfill`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis

from api_server.errors import StoreUnavailable, UpstreamError
from api_server.market_chart import PER_COIN_KINDS, ChartPoint, MarketChart
from api_server.pacing import CallSpacer
from api_server.report import IngestReport
from cryptostats.config import TrackedCoin

log = logging.getLogger(__name__)

REASON = "backfill"
"""The `reason` of a backfill's report, as `trigger` or `startup` for ingests."""

WRITE_CHUNK = 200
"""Records written per call to the history writer (newest first)."""

CLAIM_SECONDS = 120
"""How long a backfill claim lasts unless renewed (it is renewed before each coin)."""


def granularity(days: int) -> timedelta:
    """Return the spacing of CoinGecko's market chart points for `days` (automatic granularity)."""
    if days <= 1:
        return timedelta(minutes=5)
    if days <= 90:
        return timedelta(hours=1)
    return timedelta(days=1)


@dataclass(frozen=True)
class BackfillRecord:
    """One point of a coin's past from the market chart, stored like a trigger record."""

    coin: str
    observed_at: datetime
    price: float
    market_cap: float
    volume_24h: float
    source: str
    deviation: float | None = None
    backfill: bool = True


@dataclass(frozen=True)
class CoinBackfill:
    """What to fetch for one coin: `days` of chart, keeping the points older than `before`."""

    spec: TrackedCoin
    days: int
    before: datetime | None

    def keeps(self, point: ChartPoint) -> bool:
        """Whether a point is missing from the store (older than the oldest stored record)."""
        return self.before is None or point.observed_at < self.before


def plan_backfill(
    coins: Sequence[TrackedCoin],
    days: int,
    oldest: Mapping[str, datetime | None],
    now: datetime,
) -> list[CoinBackfill]:
    """Return the coins whose oldest stored record is not within one chart step of `days` ago."""
    if days <= 0:
        return []
    reach = now - timedelta(days=days) + granularity(days)
    plan = []
    for spec in coins:
        first = oldest.get(spec.public)
        if first is None or first > reach:
            plan.append(CoinBackfill(spec, days, first))
    return plan


class ChartSource(Protocol):
    """Where charts come from (MarketChartClient, or a fake in tests)."""

    @property
    def source(self) -> str: ...

    def fetch(self, upstream_id: str, days: int) -> MarketChart: ...


class HistoryWriter(Protocol):
    """The raw history store, as the backfill needs it."""

    def oldest_time(self, coin: str) -> datetime | None:
        """Return the time of a coin's oldest stored record, or None."""
        ...

    def add_records(self, records: Sequence[BackfillRecord]) -> list[BackfillRecord]:
        """Store records once each (by their (coin, time) key); return those newly stored."""
        ...


class BucketWriter(Protocol):
    """The bucket aggregates (buckets.Buckets)."""

    def add_many(self, records: Sequence[BackfillRecord]) -> int: ...


class BackfillProgress(Protocol):
    """Told about a run as it goes (the operator CLI draws a progress bar)."""

    def planned(self, plan: Sequence[CoinBackfill]) -> None: ...

    def coin_done(self, coin: str, stored: int, problem: str | None) -> None: ...


@dataclass
class BackfillReport:
    """What one backfill did, shaped like an ingest report (`reason` `backfill`)."""

    started_at: datetime
    source: str = ""
    finished_at: datetime | None = None
    outcome: str = "running"
    days: int = 0
    stored: list[str] = field(default_factory=list)
    points: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    upstream_calls: int = 0
    waited_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    error_kind: str = ""
    reason: str = REASON

    @property
    def total_points(self) -> int:
        """Points stored over all coins."""
        return sum(self.points.values())

    def as_ingest(self) -> IngestReport:
        """Return the report as an ingest report (status, metrics), reason `backfill`."""
        return IngestReport(
            reason=self.reason,
            started_at=self.started_at,
            finished_at=self.finished_at,
            outcome=self.outcome,
            stored=list(self.stored),
            skipped={**self.skipped, **{coin: "pending" for coin in self.pending}},
            upstream_calls=self.upstream_calls,
            errors=list(self.errors),
            source=self.source,
            error_kind=self.error_kind,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON- and BSON-friendly dict (an ingest summary, and more)."""
        return {
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "outcome": self.outcome,
            "stored": self.stored,
            "duplicates": [],
            "skipped": self.skipped,
            "upstreamCalls": self.upstream_calls,
            "errors": self.errors,
            "source": self.source,
            "pid": os.getpid(),
            "days": self.days,
            "points": self.points,
            "dropped": self.dropped,
            "pending": self.pending,
            "upToDate": self.up_to_date,
            "waitedSeconds": round(self.waited_seconds, 3),
        }


class Backfiller:
    """Plans and runs backfills of the tracked coins into the history and the buckets."""

    def __init__(
        self,
        *,
        coins: Sequence[TrackedCoin],
        days: int,
        charts: ChartSource,
        history: HistoryWriter,
        buckets: BucketWriter,
        spacer: CallSpacer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.coins = tuple(coins)
        self.days = days
        self.charts = charts
        self.history = history
        self.buckets = buckets
        self.spacer = spacer
        self.clock = clock

    def plan(self) -> list[CoinBackfill]:
        """Return what a run would fetch now."""
        oldest = {spec.public: self.history.oldest_time(spec.public) for spec in self.coins}
        return plan_backfill(self.coins, self.days, oldest, self.clock())

    def run(
        self,
        progress: BackfillProgress | None = None,
        keep_claim: Callable[[], bool] = lambda: True,
    ) -> BackfillReport:
        """Backfill every coin that needs it; never raises for upstream or store failures.

        `keep_claim` is called before each coin; False (the claim was lost) stops the run.
        """
        report = BackfillReport(started_at=self.clock(), source=self.charts.source, days=self.days)
        try:
            plan = self.plan()
        except StoreUnavailable as exc:
            return self._finish(report, "store_error", exc.message)
        planned = {item.spec.public for item in plan}
        report.up_to_date = [s.public for s in self.coins if s.public not in planned]
        if progress is not None:
            progress.planned(plan)
        for position, item in enumerate(plan):
            if not keep_claim():
                report.pending = [i.spec.public for i in plan[position:]]
                return self._finish(report, "partial", "lost the backfill claim")
            try:
                stored = self._coin(item, report)
            except UpstreamError as exc:
                if exc.kind in PER_COIN_KINDS:
                    report.skipped[item.spec.public] = str(exc)
                    log.warning("backfill skipped %s: %s", item.spec.public, exc)
                    _tell(progress, item.spec.public, 0, str(exc))
                    continue
                report.pending = [i.spec.public for i in plan[position:]]
                report.error_kind = exc.kind
                _tell(progress, item.spec.public, 0, str(exc))
                return self._finish(report, "upstream_error", str(exc))
            except StoreUnavailable as exc:
                report.pending = [i.spec.public for i in plan[position:]]
                return self._finish(report, "store_error", exc.message)
            _tell(progress, item.spec.public, stored, None)
        return self._finish(report, "partial" if report.skipped else "ok", None)

    def _coin(self, item: CoinBackfill, report: BackfillReport) -> int:
        report.waited_seconds += self.spacer.wait()
        report.upstream_calls += 1
        chart = self.charts.fetch(item.spec.upstream, item.days)
        if chart.dropped:
            report.dropped[item.spec.public] = dict(chart.dropped)
        records = [
            BackfillRecord(
                coin=item.spec.public,
                observed_at=point.observed_at,
                price=point.price,
                market_cap=point.market_cap,
                volume_24h=point.volume_24h,
                source=self.charts.source,
            )
            for point in reversed(chart.points)
            if item.keeps(point)
        ]
        stored = 0
        for first in range(0, len(records), WRITE_CHUNK):
            added = self.history.add_records(records[first : first + WRITE_CHUNK])
            if added:
                self.buckets.add_many(added)
            stored += len(added)
        report.points[item.spec.public] = stored
        if stored:
            report.stored.append(item.spec.public)
        return stored

    def _finish(self, report: BackfillReport, outcome: str, error: str | None) -> BackfillReport:
        report.outcome = outcome
        report.finished_at = self.clock()
        if error:
            report.errors.append(error)
        took_ms = round((report.finished_at - report.started_at).total_seconds() * 1000, 1)
        log.info(
            "ingest %s (%s): stored=%d points=%d skipped=%d pending=%d upstream_calls=%d "
            "in %.0f ms",
            report.outcome,
            REASON,
            len(report.stored),
            report.total_points,
            len(report.skipped),
            len(report.pending),
            report.upstream_calls,
            took_ms,
            extra={
                "event": "ingest",
                "outcome": report.outcome,
                "reason": REASON,
                "stored": len(report.stored),
                "points": report.total_points,
                "skipped": len(report.skipped),
                "pending": len(report.pending),
                "upstream_calls": report.upstream_calls,
                "duration_ms": took_ms,
                "source": report.source,
            },
        )
        return report


class BackfillClaim:
    """One backfill at a time across processes and replicas: SET NX PX, renewed by its owner.

    Without Redis a process backfills anyway (as an ingest fetches anyway): records are stored
    once by their key and only newly stored ones reach the buckets, so a second backfiller
    costs upstream calls, never wrong data.
    """

    def __init__(
        self, client: redis.Redis, key: str, owner: str, seconds: float = CLAIM_SECONDS
    ) -> None:
        self.client = client
        self.key = key
        self.owner = owner
        self.px = max(1, int(seconds * 1000))

    def acquire(self) -> bool:
        """Take the claim unless another process holds it."""
        try:
            return bool(self.client.set(self.key, self.owner, nx=True, px=self.px))
        except redis.RedisError as exc:
            log.warning("cannot claim the backfill in Redis (%s); backfilling anyway", exc)
            return True

    def renew(self) -> bool:
        """Extend the claim if this process still holds it; False when it was lost."""
        try:
            with self.client.pipeline() as pipe:
                pipe.watch(self.key)
                if _text(pipe.get(self.key)) != self.owner:
                    return False
                pipe.multi()
                pipe.set(self.key, self.owner, px=self.px)
                pipe.execute()
                return True
        except redis.WatchError:
            return False
        except redis.RedisError as exc:
            log.warning("cannot renew the backfill claim (%s); going on", exc)
            return True

    def release(self) -> None:
        """Give the claim up if this process holds it."""
        try:
            with self.client.pipeline() as pipe:
                pipe.watch(self.key)
                if _text(pipe.get(self.key)) == self.owner:
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot release the backfill claim (%s); it expires by itself", exc)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _tell(progress: BackfillProgress | None, coin: str, stored: int, problem: str | None) -> None:
    if progress is not None:
        progress.coin_done(coin, stored, problem)
