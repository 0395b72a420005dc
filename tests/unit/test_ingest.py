"""The write path: claim -> fetch -> validate -> store -> announce; never the read model."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest

from api_server.announcement import parse_announcement
from api_server.backfill import Backfiller, BackfillRecord
from api_server.domain import CoinLabel, Observation
from api_server.errors import StoreUnavailable, UpstreamError
from api_server.pacing import CallSpacer
from api_server.snapshots import rebuild_snapshot
from api_server.store import Store
from tests.unit.conftest import REDIS_CLAIM, Harness
from tests.unit.fakes import T0, ScriptedCharts, ScriptedSource


def announcements(h: Harness) -> Any:
    """Subscribe to the "ingested" announcements, as a read model does."""
    listener = h.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe("crypto.update.ingested")
    listener.get_message(timeout=0)  # the subscription's confirmation
    return listener


def test_one_trigger_stores_one_record_per_coin_and_serves_it(harness: Harness) -> None:
    report = harness.ingest("test")
    assert report is not None and report.outcome == "ok"
    assert sorted(report.stored) == ["bitcoin", "ethereum", "matic-network"]
    assert harness.source.calls == 1
    for coin in harness.settings.coin_names:
        assert harness.store.count_observations(coin) == 1
    body = harness.client.get("/api/stats?coin=bitcoin").get_json()
    assert body == {"price": 101.0, "marketCap": 101000.0, "24hChange": 1.5}


def test_the_claim_is_taken_and_released_around_each_ingest(harness: Harness) -> None:
    harness.state.ingestor.ingest("first")
    assert harness.claim.acquired == 1 and len(harness.claim.released) == 1
    harness.source.error = UpstreamError("timeout", "read timed out")
    harness.state.ingestor.ingest("failing")
    assert harness.claim.acquired == 2 and len(harness.claim.released) == 2


def test_a_held_claim_skips_the_fetch(harness: Harness) -> None:
    harness.claim.held = True
    assert harness.state.ingestor.ingest("trigger") is None
    assert harness.source.calls == 0 and not harness.claim.released


def test_the_claim_lets_one_process_fetch_per_window(
    make_harness: Callable[..., Harness],
) -> None:
    first, second = make_harness(claim=REDIS_CLAIM), make_harness(claim=REDIS_CLAIM)
    assert first.state.ingestor.ingest("trigger") is not None
    assert second.state.ingestor.ingest("trigger") is None  # within the window after it
    assert first.source.calls + second.source.calls == 1


def test_the_write_path_announces_and_never_refreshes_the_read_model(harness: Harness) -> None:
    harness.ingest("first")
    listener = announcements(harness)
    harness.state.ingestor.ingest("second")
    # Served data changes only when the read model reloads (its listener does on the message).
    assert harness.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 101.0
    message = listener.get_message(timeout=0)
    assert message is not None and message["channel"] == b"crypto.update.ingested"
    announced = parse_announcement(message["data"])
    assert announced.origin == harness.state.ingestor.origin
    assert [obs.price for obs in announced.observations or []] == [102.0, 102.0, 102.0]
    assert announced.labels == {
        "bitcoin": CoinLabel("bit", "Bitcoin"),
        "ethereum": CoinLabel("eth", "Ethereum"),
        "matic-network": CoinLabel("mat", "Matic-Network"),
    }
    harness.state.read_model.refresh()
    assert harness.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 102.0


def test_nothing_stored_means_nothing_announced(harness: Harness) -> None:
    listener = announcements(harness)
    harness.source.error = UpstreamError("rate_limited", "HTTP 429 after retries")
    harness.state.ingestor.ingest("test")
    assert listener.get_message(timeout=0) is None


def test_deviation_covers_only_the_newest_100_of_150(harness: Harness) -> None:
    prices = [1000.0 + (i * 37) % 101 for i in range(150)]
    for i, price in enumerate(prices):
        harness.store.add_observation(
            Observation("bitcoin", T0 + timedelta(minutes=i), price, price * 10, 0.0, "x")
        )
    rebuild_snapshot(harness.store, "bitcoin", CoinLabel(), datetime.now(UTC))
    body = harness.client.get("/api/deviation?coin=bitcoin").get_json()
    assert body == {"deviation": round(statistics.pstdev(prices[50:]), 2)}
    assert body != {"deviation": round(statistics.pstdev(prices), 2)}
    stats = harness.client.get("/api/stats?coin=bitcoin").get_json()
    assert stats["price"] == prices[-1]


def test_contract_example_through_the_endpoint(harness: Harness) -> None:
    for i, price in enumerate([40000.0, 45000.0, 50000.0]):
        harness.store.add_observation(
            Observation("bitcoin", T0 + timedelta(minutes=i), price, 8e8, 3.4, "x")
        )
    rebuild_snapshot(harness.store, "bitcoin", CoinLabel(), datetime.now(UTC))
    assert harness.client.get("/api/deviation?coin=bitcoin").get_json() == {"deviation": 4082.48}
    assert harness.client.get("/api/stats?coin=bitcoin").get_json() == {
        "price": 50000.0,
        "marketCap": 8e8,
        "24hChange": 3.4,
    }


def test_skipped_coins_are_reported_and_others_stored(harness: Harness) -> None:
    harness.source.prices = lambda coin, n: None if coin == "ethereum" else 5.0
    report = harness.ingest("test")
    assert report is not None and report.outcome == "partial"
    assert "ethereum" in report.skipped
    assert harness.store.count_observations("ethereum") == 0
    assert harness.store.count_observations("bitcoin") == 1
    assert harness.client.get("/api/stats?coin=ethereum").status_code == 404


def test_upstream_failure_stores_nothing_and_is_reported(harness: Harness) -> None:
    harness.source.error = UpstreamError("rate_limited", "HTTP 429 after retries")
    report = harness.ingest("test")
    assert report is not None and report.outcome == "upstream_error"
    assert "rate_limited" in report.errors[0]
    assert harness.store.count_observations("bitcoin") == 0
    assert harness.store.recent_ingests(1)[0].outcome == "upstream_error"


def test_store_failure_is_reported_not_raised(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(obs: Observation) -> bool:
        raise StoreUnavailable("data store unavailable (AutoReconnect)")

    monkeypatch.setattr(harness.store, "add_observation", fail)
    report = harness.ingest("test")
    assert report is not None and report.outcome == "store_error"
    assert len(harness.claim.released) == 1


def test_catch_up_fetches_only_missing_or_old_data(make_harness: Callable[..., Harness]) -> None:
    h = make_harness({"UPDATE_INTERVAL_SECONDS": "60"})
    ingestor = h.state.ingestor
    assert ingestor.catch_up("start").report is not None  # empty store
    assert ingestor.catch_up("start").report is None  # fresh
    ingestor.now = lambda: datetime.now(UTC) + timedelta(hours=1)  # an hour passes
    assert ingestor.catch_up("start").report is not None
    assert h.source.calls == 2


def test_a_catch_up_skipped_by_the_claim_says_when_to_retry(harness: Harness) -> None:
    harness.claim.held, harness.claim.wait = True, 0.7
    outcome = harness.state.ingestor.catch_up("start")
    assert outcome.report is None and outcome.retry_in == 0.7
    harness.claim.held = False
    assert harness.state.ingestor.catch_up("start").report is not None


def test_deviation_rolls_over_150_ingests_without_reading_history(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = [1000.0 + (i * 37) % 101 for i in range(150)]
    harness.source.prices = lambda coin, n: prices[n - 1]
    ingestor = harness.state.ingestor
    assert ingestor.run("first").outcome == "ok"

    def no_history_reads(coin: str, limit: int) -> list[Observation]:
        raise AssertionError("the ingest sorted the history")

    monkeypatch.setattr(harness.store, "recent_observations", no_history_reads)
    for n in range(2, 151):
        assert ingestor.run(f"ingest {n}").outcome == "ok"
    body = harness.client.get("/api/deviation?coin=bitcoin").get_json()
    assert body == {"deviation": round(statistics.pstdev(prices[50:]), 2)}
    assert harness.client.get("/api/stats?coin=bitcoin").get_json()["price"] == prices[-1]
    assert harness.store.snapshots()["bitcoin"].samples == 100


def test_a_snapshot_without_a_window_is_rebuilt_from_history(harness: Harness) -> None:
    for i, price in enumerate([40000.0, 45000.0]):
        harness.store.add_observation(
            Observation("bitcoin", T0 - timedelta(minutes=10 - i), price, 8e8, 3.4, "x")
        )
    snapshot = rebuild_snapshot(harness.store, "bitcoin", CoinLabel(), datetime.now(UTC))
    assert snapshot is not None
    harness.store.save_snapshot(replace(snapshot, window=()))  # as stored before windows
    harness.source.prices = lambda coin, n: 50000.0
    assert harness.ingest("test").outcome == "ok"  # type: ignore[union-attr]
    body = harness.client.get("/api/deviation?coin=bitcoin").get_json()
    assert body == {"deviation": 4082.48}


def test_a_duplicate_record_leaves_the_window_alone(harness: Harness) -> None:
    harness.source.prices = lambda coin, n: 100.0 * n
    harness.state.ingestor.run("first")
    harness.source.calls = 0  # the source repeats its first observation time and price
    report = harness.state.ingestor.run("again")
    assert report.duplicates and not report.stored
    snapshot = harness.store.snapshots(with_window=True)["bitcoin"]
    assert snapshot.samples == 1 and [p for _, p in snapshot.window] == [100.0]


def test_labels_travel_with_the_snapshot_and_survive_a_blank_one(harness: Harness) -> None:
    harness.ingest("first")
    assert harness.store.snapshots()["bitcoin"].label == CoinLabel("bit", "Bitcoin")
    report = harness.state.ingestor.run("again")
    assert report.stored
    snapshot = harness.store.snapshots()["bitcoin"]
    assert snapshot.label == CoinLabel("bit", "Bitcoin")


def test_apply_stores_a_batch_another_process_fetched_and_announces_it(
    make_harness: Callable[..., Harness],
) -> None:
    replica = make_harness(store=Store(mongomock.MongoClient()["other"], embedded=True))
    listener = announcements(replica)
    batch = [Observation("bitcoin", T0, 5.0, 50.0, 1.0, "api.coingecko.com")]
    replica.state.ingestor.apply(batch, {"bitcoin": CoinLabel("btc", "Bitcoin")})
    assert replica.store.count_observations("bitcoin") == 1
    assert replica.store.snapshots()["bitcoin"].label.symbol == "btc"
    message = listener.get_message(timeout=0)
    assert message is not None
    assert json.loads(message["data"]) == {"origin": replica.state.ingestor.origin}
    replica.state.ingestor.apply(batch, {})  # the same batch again: a duplicate, no announcement
    assert replica.store.count_observations("bitcoin") == 1
    assert listener.get_message(timeout=0) is None


CONTRACT_PRICES = {1: 40000.0, 2: 45000.0, 3: 50000.0}


@pytest.mark.parametrize("backfill_first", [True, False])
def test_backfilled_points_never_enter_the_deviation(
    make_harness: Callable[..., Harness], backfill_first: bool
) -> None:
    h = make_harness(source=ScriptedSource(lambda coin, n: CONTRACT_PRICES[n]))
    charts = ScriptedCharts(now=T0 + timedelta(minutes=10))  # 30 days hourly, around the triggers
    base = h.state.backfill.backfiller
    backfill = Backfiller(
        coins=base.coins,
        days=30,
        charts=charts,
        history=base.history,
        buckets=base.buckets,
        spacer=CallSpacer(60, sleep=lambda seconds: None),
        clock=lambda: charts.now,
    )
    if backfill_first:
        assert h.state.backfill.run_once(backfiller=backfill).total_points > 700
    for _ in CONTRACT_PRICES:
        h.ingest("trigger")
    if not backfill_first:
        assert h.state.backfill.run_once(backfiller=backfill).total_points > 700
        h.state.read_model.refresh()
    assert h.client.get("/api/deviation?coin=bitcoin").get_json() == {"deviation": 4082.48}
    assert h.store.count_observations("bitcoin") > 700


def test_each_trigger_record_keeps_its_volume_and_the_deviation_served_after_it(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(source=ScriptedSource(lambda coin, n: CONTRACT_PRICES[n]))
    served = []
    for _ in CONTRACT_PRICES:
        h.ingest("trigger")
        served.append(h.client.get("/api/deviation?coin=bitcoin").get_json()["deviation"])
    docs = h.store.db["prices"].find({"coin": "bitcoin"}).sort("observedAt", 1)
    assert [(d["deviation"], d["volume24h"]) for d in docs] == [
        (served[i], price * 50) for i, price in enumerate(CONTRACT_PRICES.values())
    ]
    (bucket,) = h.state.history.buckets.query("bitcoin", "1h", T0)
    assert (bucket.open, bucket.high, bucket.low, bucket.close) == (
        40000.0,
        50000.0,
        40000.0,
        50000.0,
    )
    assert bucket.count == 3 and bucket.deviation == 4082.48 and bucket.volume_24h == 50000.0 * 50


def test_the_embedded_store_removes_records_past_retention_but_keeps_the_newest_100(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(env={"HISTORY_RETENTION_DAYS": "1"})
    for _ in range(105):
        h.ingest("trigger")  # T0 + n minutes: long past the retention
    h.state.ingestor.backfilled(
        h.state.ingestor.history.add_records(
            [BackfillRecord("bitcoin", T0 - timedelta(days=d), 1.0, 1.0, 1.0, "t") for d in (3, 4)]
        )
    )
    later = datetime.now(UTC) + timedelta(hours=2)
    h.state.ingestor.now = lambda: later  # the next sweep is due
    h.ingest("trigger")
    times = [d["observedAt"] for d in h.store.db["prices"].find({"coin": "bitcoin"})]
    assert len(times) == 100
    assert h.client.get("/api/deviation?coin=bitcoin").status_code == 200
    daily = h.state.history.buckets.query("bitcoin", "1d", T0 - timedelta(days=5))
    assert sum(b.count for b in daily) == 108  # buckets stay
