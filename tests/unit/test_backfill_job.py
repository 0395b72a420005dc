"""The start-up backfill job: one claim winner, in a thread, recorded like an ingest."""

from __future__ import annotations

import logging
from typing import Any

import fakeredis
import mongomock
import pytest

from api_server.backfill import BackfillClaim, BackfillReport
from api_server.backfill_job import BackfillJob
from api_server.market_chart import MarketChart
from api_server.redis_keys import backfill_claim_key as claim_key
from api_server.store import Store
from tests.unit.test_backfill import ScriptedCharts, backfiller


def job(db: Any, server: fakeredis.FakeServer, owner: str, charts: Any, **kw: Any) -> BackfillJob:
    claim = BackfillClaim(fakeredis.FakeRedis(server=server), claim_key("c"), owner)
    return BackfillJob(
        backfiller=backfiller(db, charts, days=kw.pop("days", 1)),
        claim=claim,
        ingest_log=Store(db),
        **kw,
    )


def test_the_claim_winner_backfills_and_records_the_report() -> None:
    db, server = mongomock.MongoClient().db, fakeredis.FakeServer()
    heard: list[BackfillReport] = []
    first = job(db, server, "host:1", ScriptedCharts(), listeners=[heard.append])
    holder = fakeredis.FakeRedis(server=server)
    report = first.run_once()
    assert report is not None and report.outcome == "ok" and report.total_points == 3 * 289
    assert heard == [report] and first.last is report
    assert [d["reason"] for d in db["ingests"].find()] == ["backfill"]
    assert holder.get(claim_key("c")) is None  # released


def test_a_process_that_does_not_win_the_claim_does_nothing() -> None:
    db, server = mongomock.MongoClient().db, fakeredis.FakeServer()
    fakeredis.FakeRedis(server=server).set(claim_key("c"), "host:9")
    charts = ScriptedCharts()
    assert job(db, server, "host:1", charts).run_once() is None
    assert charts.calls == [] and db["ingests"].count_documents({}) == 0


def test_zero_days_takes_no_claim() -> None:
    db, server = mongomock.MongoClient().db, fakeredis.FakeServer()
    assert job(db, server, "host:1", ScriptedCharts(), days=0).run_once() is None
    assert fakeredis.FakeRedis(server=server).get(claim_key("c")) is None


def test_start_returns_at_once_and_the_thread_finishes() -> None:
    db, server = mongomock.MongoClient().db, fakeredis.FakeServer()
    background = job(db, server, "host:1", ScriptedCharts())
    thread = background.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert background.last is not None and background.last.stored == ["bitcoin", "ethereum", "pol"]


def test_an_unexpected_error_is_logged_and_the_claim_released(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(ScriptedCharts):
        def fetch(self, upstream_id: str, days: int) -> MarketChart:
            raise RuntimeError("bug")

    db, server = mongomock.MongoClient().db, fakeredis.FakeServer()
    background = job(db, server, "host:1", Broken())
    with caplog.at_level(logging.ERROR):
        background.start().join(timeout=30)
    assert "backfill failed unexpectedly" in caplog.text
    assert fakeredis.FakeRedis(server=server).get(claim_key("c")) is None
