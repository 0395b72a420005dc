"""The operator CLI: exit codes, summary, plan, progress, and the direct-store target."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import mongomock
import pytest
from rich.console import Console

from api_server.backfill import BackfillProgress, BackfillReport, CoinBackfill
from api_server.backfill_cli import ApiTarget, DirectTarget, main
from api_server.errors import UpstreamError
from api_server.pacing import CallSpacer
from cryptostats.config import Settings, TrackedCoin
from tests.unit.conftest import Harness
from tests.unit.test_backfill import NOW, FakeTime, ScriptedCharts


class FakeTarget:
    def __init__(self, report: BackfillReport, plan: list[CoinBackfill] | None = None) -> None:
        self.report = report
        self._plan = plan or []
        self.runs = 0

    def plan(self) -> list[CoinBackfill]:
        return self._plan

    def run(self, progress: BackfillProgress | None) -> BackfillReport:
        self.runs += 1
        if progress is not None:
            progress.planned(self._plan)
            for item in self._plan:
                stored = self.report.points.get(item.spec.public, 0)
                progress.coin_done(item.spec.public, stored, None)
        return self.report


def console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120, force_terminal=False), buffer


def report(outcome: str, **fields: object) -> BackfillReport:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    made = BackfillReport(started_at=started, days=30, outcome=outcome, **fields)
    made.finished_at = started + timedelta(seconds=12)
    return made


def run(target: FakeTarget, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    out, buffer = console()
    seen: list[Settings] = []

    def connect(settings: Settings) -> FakeTarget:
        seen.append(settings)
        return target

    code = main(
        list(argv),
        environ={"MONGO_URI": "mongodb://db.invalid/", **(env or {})},
        connect=connect,
        console=out,
        setup_logging=False,
    )
    return code, buffer.getvalue()


def test_a_full_backfill_exits_0_with_a_summary() -> None:
    done = report("ok", stored=["bitcoin"], points={"bitcoin": 721}, up_to_date=["ethereum"])
    plan = [CoinBackfill(TrackedCoin("bitcoin", "bitcoin"), 30, None)]
    code, text = run(FakeTarget(done, plan))
    assert code == 0
    assert "721" in text and "already stored" in text
    assert "ok: 721 points for 1 coins in 12.0 s" in text


@pytest.mark.parametrize("outcome", ["partial", "upstream_error", "store_error"])
def test_an_incomplete_backfill_exits_1_naming_what_is_left(outcome: str) -> None:
    failed = report(
        outcome,
        skipped={"ethereum": "unknown_coin: CoinGecko does not know the id 'ethereum'"},
        pending=["pol"],
        errors=["rate_limited: HTTP 429"],
    )
    code, text = run(FakeTarget(failed), "--no-progress")
    assert code == 1
    assert "skipped: unknown_coin" in text and "pending" in text and "error: rate_limited" in text


def test_days_and_coins_options_override_the_environment() -> None:
    target = FakeTarget(report("ok"))
    seen: list[Settings] = []

    def connect(settings: Settings) -> FakeTarget:
        seen.append(settings)
        return target

    out, _ = console()
    main(
        ["--days", "7", "--coins", "bitcoin", "--no-progress"],
        environ={"BACKFILL_DAYS": "90", "MONGO_URI": "mongodb://db.invalid/"},
        connect=connect,
        console=out,
        setup_logging=False,
    )
    assert seen[0].backfill_days == 7 and seen[0].coin_names == ["bitcoin"]


def test_bad_days_exit_2_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(FakeTarget(report("ok")), "--days", "400")
    assert caught.value.code == 2
    assert "BACKFILL_DAYS" in capsys.readouterr().err


def test_without_mongo_uri_the_cli_asks_the_running_api(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness()
    target = ApiTarget(h.settings, session=ClientSession(h))  # type: ignore[arg-type]
    out, text = console()
    code = main([], environ={}, connect=lambda s: target, console=out, setup_logging=False)
    assert code == 0, text.getvalue()
    assert "ok:" in text.getvalue() and "bitcoin" in text.getvalue()
    stored = h.store.count_observations("bitcoin")
    assert stored > 700  # 30 days, hourly
    assert main([], environ={}, connect=lambda s: target, console=out, setup_logging=False) == 0
    assert h.store.count_observations("bitcoin") == stored  # the second run stores nothing


class ClientSession:
    """requests.Session's post, answered by the app's test client from loopback."""

    def __init__(self, harness: Harness) -> None:
        self.client = harness.client

    def post(self, url: str, params: dict[str, str], **_: Any) -> Any:
        path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
        resp = self.client.post(
            "/" + path, query_string=params, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
        resp.text = resp.get_data(as_text=True)
        resp.iter_lines = lambda: [line for line in resp.text.splitlines() if line]
        return resp


def test_zero_days_does_nothing() -> None:
    target = FakeTarget(report("ok"))
    code, text = run(target, env={"BACKFILL_DAYS": "0"})
    assert code == 0 and target.runs == 0 and "off" in text


def test_plan_fetches_nothing() -> None:
    plan = [CoinBackfill(TrackedCoin("pol", "polygon-ecosystem-token"), 30, NOW)]
    target = FakeTarget(report("ok"), plan)
    code, text = run(target, "--plan")
    assert code == 0 and target.runs == 0
    assert "pol (polygon-ecosystem-token): 30 days, before 2026-06-01" in text


def test_the_progress_bar_counts_the_coins() -> None:
    plan = [CoinBackfill(TrackedCoin(c, c), 30, None) for c in ("bitcoin", "ethereum")]
    done = report("ok", stored=["bitcoin", "ethereum"], points={"bitcoin": 5, "ethereum": 6})
    code, text = run(FakeTarget(done, plan))
    assert code == 0 and "2/2" in text


def test_direct_target_stores_logs_and_announces_the_run() -> None:
    db = mongomock.MongoClient().db
    fake = FakeTime()
    server = fakeredis.FakeServer()
    api_process = fakeredis.FakeRedis(server=server).pubsub()
    api_process.subscribe("crypto.update.ingested")
    settings = Settings.from_env({"COINS": "bitcoin,ethereum", "BACKFILL_DAYS": "2"})
    charts = ScriptedCharts({"ethereum": UpstreamError("unknown_coin", "no such id")})
    target = DirectTarget(
        settings,
        database=db,
        redis_client=fakeredis.FakeRedis(server=server),
        charts=charts,
        spacer=CallSpacer(30, clock=fake.clock, sleep=fake.sleep),
    )
    first = target.run(None)
    assert first.outcome == "partial" and first.points["bitcoin"] > 40
    [logged] = db["ingests"].find({}, {"_id": 0})
    assert logged["reason"] == "backfill" and logged["outcome"] == "partial"
    assert [item.spec.public for item in target.plan()] == ["ethereum"]
    messages = [api_process.get_message(timeout=0) for _ in range(3)]
    assert [m["type"] for m in messages if m] == ["subscribe", "message"]
