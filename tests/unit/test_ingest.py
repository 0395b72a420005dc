from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from api_server.errors import StoreUnavailable, UpstreamError
from api_server.store import Observation
from tests.unit.conftest import Harness
from tests.unit.fakes import T0


def test_one_trigger_stores_one_record_per_coin_and_serves_it(harness: Harness) -> None:
    report = harness.services.ingestor.ingest("test")
    assert report is not None and report.outcome == "ok"
    assert sorted(report.stored) == ["bitcoin", "ethereum", "matic-network"]
    assert harness.source.calls == 1
    for coin in harness.settings.coin_names:
        assert harness.store.count_observations(coin) == 1
    body = harness.client.get("/api/stats?coin=bitcoin").get_json()
    assert body == {"price": 101.0, "marketCap": 101000.0, "24hChange": 1.5}


def test_claim_window_allows_one_fetch_between_processes(
    make_harness: Callable[..., Harness],
) -> None:
    first, second = make_harness(), make_harness()
    assert first.services.ingestor.ingest("trigger") is not None
    assert second.services.ingestor.ingest("trigger") is None
    assert first.source.calls + second.source.calls == 1


def test_same_observation_twice_is_stored_once(make_harness: Callable[..., Harness]) -> None:
    h = make_harness({"INGEST_CLAIM_SECONDS": "0.1"})
    h.source.prices = lambda coin, n: 100.0
    at = T0
    obs = Observation("bitcoin", at, 1.0, 2.0, 3.0, "x")
    assert h.store.add_observation(obs) is True
    assert h.store.add_observation(obs) is False
    assert h.store.count_observations("bitcoin") == 1


def test_deviation_covers_only_the_newest_100_of_150(harness: Harness) -> None:
    prices = [1000.0 + (i * 37) % 101 for i in range(150)]
    for i, price in enumerate(prices):
        harness.store.add_observation(
            Observation("bitcoin", T0 + timedelta(minutes=i), price, price * 10, 0.0, "x")
        )
    harness.services.ingestor.rebuild_snapshot("bitcoin")
    harness.services.view.refresh()
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
    harness.services.ingestor.rebuild_snapshot("bitcoin")
    harness.services.view.refresh()
    assert harness.client.get("/api/deviation?coin=bitcoin").get_json() == {"deviation": 4082.48}
    assert harness.client.get("/api/stats?coin=bitcoin").get_json() == {
        "price": 50000.0,
        "marketCap": 8e8,
        "24hChange": 3.4,
    }


def test_skipped_coins_are_reported_and_others_stored(harness: Harness) -> None:
    harness.source.prices = lambda coin, n: None if coin == "ethereum" else 5.0
    report = harness.services.ingestor.ingest("test")
    assert report is not None and report.outcome == "partial"
    assert "ethereum" in report.skipped
    assert harness.store.count_observations("ethereum") == 0
    assert harness.store.count_observations("bitcoin") == 1
    assert harness.client.get("/api/stats?coin=ethereum").status_code == 404


def test_upstream_failure_stores_nothing_and_is_reported(harness: Harness) -> None:
    harness.source.error = UpstreamError("rate_limited", "HTTP 429 after retries")
    report = harness.services.ingestor.ingest("test")
    assert report is not None and report.outcome == "upstream_error"
    assert "rate_limited" in report.errors[0]
    assert harness.store.count_observations("bitcoin") == 0
    assert harness.store.recent_ingests(1)[0]["outcome"] == "upstream_error"


def test_store_failure_is_reported_not_raised(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(obs: Observation) -> bool:
        raise StoreUnavailable("data store unavailable (AutoReconnect)")

    monkeypatch.setattr(harness.store, "add_observation", fail)
    report = harness.services.ingestor.ingest("test")
    assert report is not None and report.outcome == "store_error"


def test_ingest_if_stale(make_harness: Callable[..., Harness]) -> None:
    h = make_harness({"INGEST_CLAIM_SECONDS": "0.1", "UPDATE_INTERVAL_SECONDS": "60"})
    assert h.services.ingestor.ingest_if_stale("start") is not None  # empty store
    assert h.services.ingestor.ingest_if_stale("start") is None  # fresh
    h.store.db["latest"].update_many(
        {}, {"$set": {"updatedAt": datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)}}
    )
    time.sleep(0.15)  # let the 0.1 s claim window pass
    assert h.services.ingestor.ingest_if_stale("start") is not None


def test_deviation_rolls_over_150_ingests_without_reading_history(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = [1000.0 + (i * 37) % 101 for i in range(150)]
    harness.source.prices = lambda coin, n: prices[n - 1]
    ingestor = harness.services.ingestor
    assert ingestor._ingest("first").outcome == "ok"

    def no_history_reads(coin: str, limit: int) -> list[Observation]:
        raise AssertionError("the ingest sorted the history")

    monkeypatch.setattr(harness.store, "recent_observations", no_history_reads)
    for n in range(2, 151):
        assert ingestor._ingest(f"ingest {n}").outcome == "ok"
    body = harness.client.get("/api/deviation?coin=bitcoin").get_json()
    assert body == {"deviation": round(statistics.pstdev(prices[50:]), 2)}
    assert harness.client.get("/api/stats?coin=bitcoin").get_json()["price"] == prices[-1]
    assert harness.store.snapshots()["bitcoin"].samples == 100


def test_a_snapshot_without_a_window_is_rebuilt_from_history(harness: Harness) -> None:
    for i, price in enumerate([40000.0, 45000.0]):
        harness.store.add_observation(
            Observation("bitcoin", T0 - timedelta(minutes=10 - i), price, 8e8, 3.4, "x")
        )
    harness.services.ingestor.rebuild_snapshot("bitcoin")
    harness.store.db["latest"].update_many({}, {"$unset": {"window": ""}})
    harness.source.prices = lambda coin, n: 50000.0
    assert harness.services.ingestor._ingest("test").outcome == "ok"
    body = harness.client.get("/api/deviation?coin=bitcoin").get_json()
    assert body == {"deviation": 4082.48}


def test_a_duplicate_record_leaves_the_window_alone(harness: Harness) -> None:
    harness.source.prices = lambda coin, n: 100.0 * n
    harness.services.ingestor._ingest("first")
    harness.source.calls = 0  # the source repeats its first observation time and price
    report = harness.services.ingestor._ingest("again")
    assert report.duplicates and not report.stored
    snapshot = harness.store.snapshots(with_window=True)["bitcoin"]
    assert snapshot.samples == 1 and [p for _, p in snapshot.window] == [100.0]


def test_history_uniqueness_comes_from_the_id_not_a_scanned_index(harness: Harness) -> None:
    indexes = harness.store.db["prices"].index_information()
    assert not any(spec.get("unique") for spec in indexes.values())
    obs = Observation("bitcoin", T0, 1.0, 2.0, 3.0, "x")
    assert harness.store.add_observation(obs) is True
    assert harness.store.db["prices"].find_one({})["_id"] == "bitcoin|2026-01-01T00:00:00.000"
