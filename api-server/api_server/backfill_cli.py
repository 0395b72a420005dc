"""`cryptostats-backfill`: backfill the tracked coins on demand, with a progress bar and a summary.

The command is written against `BackfillTarget` (plan, run). With MONGO_URI the target is the
store itself (`DirectTarget`): the run stores each point once (the same keys as the API's),
records its report in the ingest log, so `/api/status` lists it, and announces it so every API
process reloads. Without MONGO_URI the data lives inside the API process, so `ApiTarget` asks
the running API on this host (`POST /api/admin/backfill`, loopback only), which runs the same
backfill under the same claim and streams its progress back.

Exit codes: 0 done (or nothing to do), 1 some coin failed or is still pending, 2 bad settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
import requests
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api_server.backfill import (
    Backfiller,
    BackfillProgress,
    BackfillReport,
    CoinBackfill,
    HistoryWriter,
)
from api_server.backfill_store import MongoHistory
from api_server.buckets import Buckets
from api_server.market_chart import MarketChartClient
from api_server.pacing import CallSpacer
from api_server.redis_keys import ingested_channel
from api_server.store import Store
from cryptostats.config import Settings, TrackedCoin
from cryptostats.errors import ConfigError
from cryptostats.logs import configure_logging
from cryptostats.startup import EXIT_CONFIG, load_settings_or_exit

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INCOMPLETE = 1


class BackfillTarget(Protocol):
    """Where a backfill runs: the store directly, or (later) the running API."""

    def plan(self) -> list[CoinBackfill]: ...

    def run(self, progress: BackfillProgress | None) -> BackfillReport: ...


class DirectTarget:
    """Backfill straight into a MongoDB store, as the API would, and log it as an ingest.

    When points were stored it announces an ingest on Redis, so the running API processes
    reload their views and answer the new history (not a stale 304).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Any,
        redis_client: redis.Redis | None = None,
        history: HistoryWriter | None = None,
        charts: Any = None,
        spacer: CallSpacer | None = None,
    ) -> None:
        self.channel = ingested_channel(settings.redis_channel)
        self.redis = redis_client
        self.store = Store(database)
        buckets = Buckets(database)
        buckets.ensure_indexes()
        self.backfiller = Backfiller(
            coins=settings.coins,
            days=settings.backfill_days,
            charts=charts or MarketChartClient(settings),
            history=history
            or MongoHistory(database, retention_days=settings.history_retention_days),
            buckets=buckets,
            spacer=spacer or CallSpacer.for_backfill(settings),
        )

    @classmethod
    def connect(cls, settings: Settings) -> DirectTarget:
        """Open MONGO_URI's database; exit 2 when the store is the API's embedded one."""
        if settings.mongo_uri is None:
            raise ConfigError(
                "MONGO_URI",
                "unset: the embedded store lives inside the API process; ask the API instead "
                "(ApiTarget)",
            )
        return cls(
            settings,
            database=Store.connect(settings.mongo_uri, settings.mongo_db).db,
            redis_client=redis.Redis.from_url(settings.redis_url, socket_timeout=3),
        )

    def plan(self) -> list[CoinBackfill]:
        """Return what a run would fetch now."""
        return self.backfiller.plan()

    def run(self, progress: BackfillProgress | None) -> BackfillReport:
        """Run the backfill and record its report in the ingest log."""
        report = self.backfiller.run(progress)
        self.store.record_ingest(report)
        if report.stored and self.redis is not None:
            try:
                self.redis.publish(self.channel, str(time.time()))
            except redis.RedisError as exc:
                log.warning("could not tell the API about the backfill (%s); it sees it later", exc)
        return report


class ApiTarget:
    """Ask the running API (embedded store) to backfill, following its streamed progress."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.url = f"http://127.0.0.1:{settings.api_port}/api/admin/backfill"
        self.days = settings.backfill_days
        self.coins = ",".join(settings.coin_names)
        self.session = session or requests.Session()

    @classmethod
    def connect(cls, settings: Settings) -> ApiTarget:
        """Target the API on this host's API_PORT."""
        return cls(settings)

    def plan(self) -> list[CoinBackfill]:
        """Not available through the API: the plan is shown by the run's first line."""
        raise ConfigError("--plan", "needs MONGO_URI (the embedded store plans when it runs)")

    def run(self, progress: BackfillProgress | None) -> BackfillReport:
        """POST the request and replay the streamed lines into `progress`."""
        params = {"days": str(self.days), "coins": self.coins}
        try:
            response = self.session.post(self.url, params=params, stream=True, timeout=(3, 600))
        except requests.RequestException as exc:
            return _failed(f"the API at {self.url} did not answer: {exc}")
        if response.status_code != 200:
            return _failed(f"the API answered {response.status_code}: {response.text[:200]}")
        report: dict[str, Any] = {}
        for line in response.iter_lines():
            event = json.loads(line)
            if "planned" in event and progress is not None:
                progress.planned(
                    [
                        CoinBackfill(TrackedCoin(c["coin"], c["coin"]), c["days"], None)
                        for c in event["planned"]
                    ]
                )
            elif "coin" in event and progress is not None:
                progress.coin_done(event["coin"], event["stored"], event["problem"])
            elif "report" in event:
                report = event["report"]
        return report_from_dict(report) if report else _failed("the API sent no report")


def report_from_dict(body: dict[str, Any]) -> BackfillReport:
    """Rebuild a BackfillReport from its JSON form (the admin endpoint's last line)."""

    def moment(value: Any) -> datetime:
        return datetime.fromisoformat(str(value)) if value else datetime.now(UTC)

    return BackfillReport(
        started_at=moment(body.get("startedAt")),
        finished_at=moment(body.get("finishedAt")),
        source=str(body.get("source", "")),
        outcome=str(body.get("outcome", "")),
        days=int(body.get("days") or 0),
        stored=list(body.get("stored") or []),
        points={str(k): int(v) for k, v in (body.get("points") or {}).items()},
        dropped=dict(body.get("dropped") or {}),
        skipped=dict(body.get("skipped") or {}),
        pending=list(body.get("pending") or []),
        up_to_date=list(body.get("upToDate") or []),
        upstream_calls=int(body.get("upstreamCalls") or 0),
        waited_seconds=float(body.get("waitedSeconds") or 0.0),
        errors=list(body.get("errors") or []),
    )


def _failed(error: str) -> BackfillReport:
    now = datetime.now(UTC)
    return BackfillReport(started_at=now, finished_at=now, outcome="failed", errors=[error])


def connect_target(settings: Settings) -> BackfillTarget:
    """The store itself with MONGO_URI; the running API's embedded store without it."""
    if settings.mongo_uri is None:
        return ApiTarget.connect(settings)
    return DirectTarget.connect(settings)


class BarProgress:
    """A rich progress bar over the planned coins."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def planned(self, plan: Sequence[CoinBackfill]) -> None:
        """Start the bar with one step per planned coin."""
        first = plan[0].spec.public if plan else "nothing to do"
        self.task = self.bar.add_task(first, total=len(plan))
        self.bar.start()

    def coin_done(self, coin: str, stored: int, problem: str | None) -> None:
        """Advance the bar by one coin."""
        note = f"{coin}: {problem}" if problem else f"{coin}: {stored} points"
        self.bar.update(self.task, advance=1, description=note)

    def stop(self) -> None:
        """Leave the finished bar on screen."""
        self.bar.stop()


def summary_table(report: BackfillReport) -> Table:
    """Return one row per tracked coin: points stored and what happened."""
    table = Table(title=f"backfill {report.outcome} ({report.days} days)")
    table.add_column("coin")
    table.add_column("points", justify="right")
    table.add_column("note")
    for coin, stored in report.points.items():
        dropped = sum(report.dropped.get(coin, {}).values())
        table.add_row(coin, str(stored), f"{dropped} invalid points dropped" if dropped else "")
    for coin, why in report.skipped.items():
        table.add_row(coin, "0", f"skipped: {why}")
    for coin in report.pending:
        table.add_row(coin, "0", "pending: the next run fetches it")
    for coin in report.up_to_date:
        table.add_row(coin, "0", "already stored")
    return table


def exit_code(report: BackfillReport) -> int:
    """Return 0 when every coin is done or up to date, else 1."""
    return EXIT_OK if report.outcome == "ok" else EXIT_INCOMPLETE


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="cryptostats-backfill",
        description="Backfill the tracked coins' history from CoinGecko's market chart.",
    )
    parser.add_argument("--days", help="days back (1..365); default BACKFILL_DAYS")
    parser.add_argument("--coins", help="coins to backfill, as COINS (default: COINS)")
    parser.add_argument(
        "--plan", action="store_true", help="show what would be fetched; fetch nothing"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    connect: Callable[[Settings], BackfillTarget] = connect_target,
    console: Console | None = None,
    setup_logging: bool = True,
) -> int:
    """Run a backfill and return the exit code."""
    args = parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    if args.days is not None:
        env["BACKFILL_DAYS"] = args.days
    if args.coins is not None:
        env["COINS"] = args.coins
    settings = load_settings_or_exit(env)
    if setup_logging:
        configure_logging(settings.log_level, secrets=[settings.coingecko_api_key])
    out = console or Console()
    try:
        target = connect(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if settings.backfill_days == 0:
        out.print("BACKFILL_DAYS is 0: backfill is off, nothing to do")
        return EXIT_OK
    if args.plan:
        try:
            return _show_plan(out, target.plan(), settings.backfill_days)
        except ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    bar = None if args.no_progress else BarProgress(out)
    try:
        report = target.run(bar)
    finally:
        if bar is not None:
            bar.stop()
    out.print(summary_table(report))
    took = ((report.finished_at or report.started_at) - report.started_at).total_seconds()
    out.print(
        f"{report.outcome}: {report.total_points} points for {len(report.stored)} coins in "
        f"{took:.1f} s ({report.upstream_calls} upstream calls, {report.waited_seconds:.1f} s "
        "spent pacing)"
    )
    for error in report.errors:
        out.print(f"error: {error}")
    return exit_code(report)


def _show_plan(out: Console, plan: Sequence[CoinBackfill], days: int) -> int:
    if not plan:
        out.print(f"every coin's history reaches back {days} days: nothing to fetch")
    for item in plan:
        since = "nothing stored" if item.before is None else f"before {item.before.isoformat()}"
        out.print(f"{item.spec.public} ({item.spec.upstream}): {item.days} days, {since}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
