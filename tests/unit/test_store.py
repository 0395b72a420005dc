"""The store through its public methods: typed records in, typed records out, store errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import mongomock
import pytest

from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.report import IngestReport
from api_server.store import Store
from tests.unit.fakes import T0, observation


@pytest.fixture
def store() -> Store:
    store = Store(mongomock.MongoClient()["cryptostats"], embedded=True)
    store.ensure_indexes()
    return store


def test_same_observation_twice_is_stored_once(store: Store) -> None:
    obs = Observation("bitcoin", T0, 1.0, 2.0, 3.0, "x")
    assert store.add_observation(obs) is True
    assert store.add_observation(obs) is False
    assert store.count_observations("bitcoin") == 1


def test_history_uniqueness_comes_from_the_id_not_a_scanned_index(store: Store) -> None:
    indexes = store.db["prices"].index_information()
    assert not any(spec.get("unique") for spec in indexes.values())
    assert store.add_observation(Observation("bitcoin", T0, 1.0, 2.0, 3.0, "x")) is True
    assert store.db["prices"].find_one({})["_id"] == "bitcoin|2026-01-01T00:00:00.000"


def test_observations_come_back_typed_in_both_orders(store: Store) -> None:
    for minute in (2, 0, 1):
        store.add_observation(observation("bitcoin", 10.0 + minute, seq=minute))
    store.add_observation(observation("ethereum", 5.0))
    newest = store.recent_observations("bitcoin", 2)
    assert [o.price for o in newest] == [12.0, 11.0]
    assert newest[0] == observation("bitcoin", 12.0, seq=2)
    assert newest[0].observed_at.tzinfo is not None


def test_recent_observations_never_return_backfilled_records(store: Store) -> None:
    store.add_observation(observation("bitcoin", 10.0, seq=0))
    later = {"coin": "bitcoin", "observedAt": T0 + timedelta(hours=1), "price": 99.0}
    store.db["prices"].insert_one({**later, "marketCap": 1.0, "change24h": None, "backfill": True})
    assert [o.price for o in store.recent_observations("bitcoin", 100)] == [10.0]


def test_volume_and_deviation_round_trip(store: Store) -> None:
    obs = replace(observation("bitcoin", 10.0), volume_24h=7.5e9, deviation=1.25)
    store.add_observation(obs)
    assert store.recent_observations("bitcoin", 1) == [obs]


def test_a_snapshot_round_trips_with_its_label_and_window(store: Store) -> None:
    window = ((T0 + timedelta(minutes=1), 2.0), (T0, 1.0))
    snap = Snapshot(
        newest=observation("bitcoin", 2.0, seq=1),
        deviation=0.5,
        samples=2,
        updated_at=T0 + timedelta(minutes=2),
        label=CoinLabel("btc", "Bitcoin"),
        window=window,
    )
    store.save_snapshot(snap)
    assert store.snapshots(with_window=True) == {"bitcoin": snap}
    without = store.snapshots()["bitcoin"]
    assert without.window == () and without.label == CoinLabel("btc", "Bitcoin")


def test_ingest_reports_come_back_typed_newest_first(store: Store) -> None:
    for minute, outcome in ((0, "ok"), (1, "upstream_error")):
        store.record_ingest(
            IngestReport(
                reason=f"r{minute}",
                started_at=T0 + timedelta(minutes=minute),
                finished_at=T0 + timedelta(minutes=minute, seconds=1),
                outcome=outcome,
                stored=["bitcoin"],
                skipped={"ethereum": "missing"},
                upstream_calls=1,
                source="s",
                pid=42,
            )
        )
    newest, oldest = store.recent_ingests(5)
    assert (newest.reason, newest.outcome, oldest.reason) == ("r1", "upstream_error", "r0")
    assert oldest.started_at == T0 and oldest.finished_at == T0 + timedelta(seconds=1)
    assert oldest.skipped == {"ethereum": "missing"} and oldest.pid == 42
    assert store.recent_ingests(1) == [newest]


def test_mongodb_retention_is_a_ttl_index_and_an_expiry_per_record_that_left_the_window() -> None:
    store = Store(mongomock.MongoClient().db)  # as MongoDB: not embedded
    store.ensure_indexes(retention_days=400)
    ttl = store.db["prices"].index_information()["expireAt_ttl"]
    assert ttl["expireAfterSeconds"] == 0
    store.add_observation(observation("bitcoin", 1.0))
    store.expire_records("bitcoin", [T0], 400)
    assert store.db["prices"].find_one({})["expireAt"] == T0.replace(tzinfo=None) + timedelta(
        days=400
    )


def test_the_embedded_store_and_zero_days_set_no_expiry() -> None:
    embedded = Store(mongomock.MongoClient().db, embedded=True)
    embedded.ensure_indexes(retention_days=400)
    assert "expireAt_ttl" not in embedded.db["prices"].index_information()
    for store, days in ((embedded, 400), (Store(mongomock.MongoClient().db), 0)):
        store.add_observation(observation("bitcoin", 1.0))
        store.expire_records("bitcoin", [T0], days)
        assert "expireAt" not in store.db["prices"].find_one({})
