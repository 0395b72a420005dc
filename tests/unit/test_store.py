"""The store through its public methods: typed records in, typed records out, store errors."""

from __future__ import annotations

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
    since = store.history("bitcoin", T0 + timedelta(minutes=1))
    assert [o.price for o in since] == [11.0, 12.0]
    assert since[0].observed_at.tzinfo is not None


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
