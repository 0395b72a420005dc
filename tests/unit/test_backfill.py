"""Backfill planning and running with a scripted chart source, mongomock history and buckets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import mongomock
import pytest
import redis

from api_server.backfill import (
    BackfillClaim,
    Backfiller,
    BackfillRecord,
    CoinBackfill,
    granularity,
    plan_backfill,
)
from api_server.backfill_store import MongoHistory
from api_server.buckets import Buckets
from api_server.domain import Observation
from api_server.errors import StoreUnavailable, UpstreamError
from api_server.market_chart import MarketChart
from api_server.pacing import CallSpacer
from api_server.redis_keys import backfill_claim_key as claim_key
from api_server.store import Store
from cryptostats.config import TrackedCoin, parse_coins
from tests.unit.fakes import ScriptedCharts

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
COINS = parse_coins("bitcoin,ethereum,pol=polygon-ecosystem-token")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Crashing(MongoHistory):
    """Stops (store down) after `allowed` write calls, like a process killed mid-way."""

    def __init__(self, database: Any, allowed: int) -> None:
        super().__init__(database)
        self.allowed = allowed

    def add_records(self, records: Sequence[BackfillRecord]) -> list[BackfillRecord]:
        if self.allowed == 0:
            raise StoreUnavailable("data store unavailable (AutoReconnect)")
        self.allowed -= 1
        return super().add_records(records)


def backfiller(
    db: Any,
    charts: ScriptedCharts,
    *,
    history: MongoHistory | None = None,
    days: int = 30,
    fake: FakeTime | None = None,
    **kwargs: Any,
) -> Backfiller:
    fake = fake or FakeTime()
    return Backfiller(
        coins=COINS,
        days=days,
        charts=charts,
        history=history or MongoHistory(db),
        buckets=Buckets(db),
        spacer=CallSpacer(30, clock=fake.clock, sleep=fake.sleep),
        clock=lambda: NOW,
        **kwargs,
    )


def stored_times(db: Any, coin: str) -> list[datetime]:
    docs = db["prices"].find({"coin": coin}).sort("observedAt", 1)
    return [d["observedAt"].replace(tzinfo=UTC) for d in docs]


def hourly_count(db: Any, coin: str) -> int:
    return sum(d["count"] for d in db["buckets_1h"].find({"coin": coin}))


def test_granularity_follows_coingecko() -> None:
    assert granularity(1) == timedelta(minutes=5)
    assert granularity(2) == granularity(90) == timedelta(hours=1)
    assert granularity(91) == granularity(365) == timedelta(days=1)


def test_plan_fetches_what_does_not_reach_back() -> None:
    oldest = {
        "bitcoin": None,
        "ethereum": NOW - timedelta(days=2),
        "pol": NOW - timedelta(days=30) + timedelta(minutes=59),
    }
    plan = plan_backfill(COINS, 30, oldest, NOW)
    assert plan == [
        CoinBackfill(COINS[0], 30, None),
        CoinBackfill(COINS[1], 30, NOW - timedelta(days=2)),
    ]
    assert plan_backfill(COINS, 0, {}, NOW) == []


def test_a_fresh_install_gets_every_coin_spaced_and_marked_as_backfill() -> None:
    db = mongomock.MongoClient().db
    charts = ScriptedCharts()
    fake = FakeTime()
    # Two days (49 hourly points): spacing and marking do not depend on the range.
    report = backfiller(db, charts, fake=fake, days=2).run()
    assert report.outcome == "ok" and report.stored == ["bitcoin", "ethereum", "pol"]
    assert charts.calls == [("bitcoin", 2), ("ethereum", 2), ("polygon-ecosystem-token", 2)]
    assert fake.sleeps == [2.0, 2.0]
    assert report.points == {"bitcoin": 49, "ethereum": 49, "pol": 49}
    assert len(stored_times(db, "bitcoin")) == 49
    doc = db["prices"].find_one({"coin": "pol"}, sort=[("observedAt", 1)])
    assert doc["backfill"] is True and doc["volume24h"] > 0 and doc["change24h"] is None
    assert doc["price"] == 100.0 + len("polygon-ecosystem-token")
    assert hourly_count(db, "bitcoin") == 49
    assert all(b["deviation"] is None for b in db["buckets_1d"].find())
    summary = report.to_dict()
    assert summary["reason"] == "backfill" and summary["upstreamCalls"] == 3


def test_running_twice_fetches_and_stores_nothing_the_second_time() -> None:
    db = mongomock.MongoClient().db
    # Two days (49 hourly points) are enough: being up to date does not depend on the range.
    backfiller(db, ScriptedCharts(), days=2).run()
    charts = ScriptedCharts()
    again = backfiller(db, charts, days=2).run()
    assert charts.calls == [] and again.total_points == 0
    assert again.outcome == "ok" and again.up_to_date == ["bitcoin", "ethereum", "pol"]
    assert hourly_count(db, "ethereum") == 49


def test_only_points_older_than_trigger_records_are_added() -> None:
    db = mongomock.MongoClient().db
    store = Store(db)
    first_trigger = NOW - timedelta(hours=5, minutes=17)
    store.add_observation(Observation("bitcoin", first_trigger, 123.0, 2e9, 1.5, "trigger"))
    # Two days (49 hourly points) are enough: the cut at the first trigger is range-independent.
    report = backfiller(db, ScriptedCharts(), days=2).run()
    times = stored_times(db, "bitcoin")
    assert report.points["bitcoin"] == 42  # 49 minus 07:00..12:00 and the "now" point
    assert times[-1] == first_trigger and times[-2] < first_trigger
    assert db["prices"].count_documents({"coin": "bitcoin", "backfill": True}) == 42


def test_a_429_mid_way_leaves_the_rest_pending_and_the_next_run_finishes() -> None:
    db = mongomock.MongoClient().db
    limited = UpstreamError("rate_limited", "HTTP 429 (Retry-After: 119)")
    first = backfiller(db, ScriptedCharts({"ethereum": limited}), days=2).run()
    assert first.outcome == "upstream_error" and first.error_kind == "rate_limited"
    assert first.stored == ["bitcoin"] and first.pending == ["ethereum", "pol"]
    charts = ScriptedCharts()
    second = backfiller(db, charts, days=2).run()
    assert [c[0] for c in charts.calls] == ["ethereum", "polygon-ecosystem-token"]
    assert second.outcome == "ok" and second.stored == ["ethereum", "pol"]


def test_a_restart_mid_way_stores_each_point_once() -> None:
    db = mongomock.MongoClient().db
    crashed = backfiller(db, ScriptedCharts(), history=Crashing(db, allowed=2)).run()
    assert crashed.outcome == "store_error" and crashed.pending == ["bitcoin", "ethereum", "pol"]
    assert len(stored_times(db, "bitcoin")) == 400  # two chunks, newest first
    assert stored_times(db, "bitcoin")[-1] == NOW
    resumed = backfiller(db, ScriptedCharts()).run()
    assert resumed.points["bitcoin"] == 321
    times = stored_times(db, "bitcoin")
    assert len(times) == len(set(times)) == 721
    assert hourly_count(db, "bitcoin") == 721


def test_a_coin_coingecko_does_not_know_is_skipped_with_a_reason() -> None:
    db = mongomock.MongoClient().db
    unknown = UpstreamError("unknown_coin", "CoinGecko does not know the id 'ethereum'")
    report = backfiller(db, ScriptedCharts({"ethereum": unknown}), days=2).run()
    assert report.outcome == "partial" and report.stored == ["bitcoin", "pol"]
    assert "does not know" in report.skipped["ethereum"]
    assert stored_times(db, "ethereum") == []


def test_dropped_points_are_reported_per_coin() -> None:
    db = mongomock.MongoClient().db
    charts = ScriptedCharts()
    charts.dropped["market cap null"] = 3
    report = backfiller(db, charts, days=2).run()
    assert report.dropped["bitcoin"] == {"market cap null": 3}


def test_losing_the_claim_stops_before_the_next_coin() -> None:
    db = mongomock.MongoClient().db
    answers = iter([True, False])
    report = backfiller(db, ScriptedCharts()).run(keep_claim=lambda: next(answers))
    assert report.stored == ["bitcoin"] and report.pending == ["ethereum", "pol"]
    assert report.outcome == "partial"


def test_a_store_that_cannot_be_read_is_a_store_error() -> None:
    class Down(MongoHistory):
        def oldest_time(self, coin: str) -> datetime | None:
            raise StoreUnavailable("data store unavailable (ServerSelectionTimeoutError)")

    db = mongomock.MongoClient().db
    charts = ScriptedCharts()
    report = backfiller(db, charts, history=Down(db)).run()
    assert report.outcome == "store_error" and charts.calls == []


def test_progress_hears_the_plan_and_each_coin() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.events: list[Any] = []

        def planned(self, plan: Sequence[CoinBackfill]) -> None:
            self.events.append([item.spec.public for item in plan])

        def coin_done(self, coin: str, stored: int, problem: str | None) -> None:
            self.events.append((coin, stored, problem))

    db = mongomock.MongoClient().db
    unknown = UpstreamError("unknown_coin", "no such id")
    recorder = Recorder()
    backfiller(db, ScriptedCharts({"ethereum": unknown}), days=1).run(recorder)
    assert recorder.events == [
        ["bitcoin", "ethereum", "pol"],
        ("bitcoin", 289, None),
        ("ethereum", 0, "unknown_coin: no such id"),
        ("pol", 289, None),
    ]


def test_history_writer_stores_once_and_sets_expiry_with_retention() -> None:
    db = mongomock.MongoClient().db
    history = MongoHistory(db, retention_days=400)
    record = BackfillRecord("bitcoin", NOW, 1.0, 2.0, 3.0, "test")
    assert history.add_records([record, record]) == [record]
    doc = db["prices"].find_one()
    assert doc["expireAt"] == (NOW + timedelta(days=400)).replace(tzinfo=None)
    assert history.oldest_time("bitcoin") == NOW and history.oldest_time("ethereum") is None
    assert "expireAt" not in MongoHistory(db)._document(record, NOW)


@pytest.mark.parametrize("coin", [TrackedCoin("bitcoin", "bitcoin")])
def test_backfill_records_are_never_deviation_inputs(coin: TrackedCoin) -> None:
    db = mongomock.MongoClient().db
    backfiller(db, ScriptedCharts(), days=1).run()
    assert db["prices"].count_documents({"coin": coin.public, "backfill": {"$ne": True}}) == 0
    assert db["buckets_5m"].count_documents({"deviation": {"$ne": None}}) == 0


def test_one_backfill_claim_across_processes() -> None:
    server = fakeredis.FakeServer()
    first = BackfillClaim(fakeredis.FakeRedis(server=server), claim_key("c"), "host:1")
    second = BackfillClaim(fakeredis.FakeRedis(server=server), claim_key("c"), "host:2")
    assert first.acquire() and not second.acquire()
    assert first.renew() and not second.renew()
    second.release()  # not its claim: nothing happens
    assert not second.acquire()
    first.release()
    assert second.acquire() and not first.renew()


def test_an_expired_claim_stops_the_backfill_before_the_next_coin() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    claim = BackfillClaim(client, claim_key("c"), "host:1")
    assert claim.acquire()
    db = mongomock.MongoClient().db
    charts = ScriptedCharts()

    class Expiring(ScriptedCharts):
        def fetch(self, upstream_id: str, days: int) -> MarketChart:
            client.set(claim_key("c"), "host:2")  # our claim expired; another process took it
            return charts.fetch(upstream_id, days)

    report = backfiller(db, Expiring(), days=1).run(keep_claim=claim.renew)
    assert report.stored == ["bitcoin"] and report.pending == ["ethereum", "pol"]


def test_without_redis_the_claim_does_not_block_the_backfill() -> None:
    class Down:
        def set(self, *args: Any, **kwargs: Any) -> None:
            raise redis.ConnectionError("Connection refused")

        def pipeline(self) -> Any:
            raise redis.ConnectionError("Connection refused")

    claim = BackfillClaim(Down(), claim_key("c"), "host:1")  # type: ignore[arg-type]
    assert claim.acquire() and claim.renew()
    claim.release()
