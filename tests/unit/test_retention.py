"""Retention: the removal plan, expiry of records leaving the deviation window, bounded steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pymongo

from api_server.deviation import roll_window
from api_server.retention import (
    DEFAULT_RETENTION_DAYS,
    EXPIRE_FIELD,
    expire_at,
    expiry_updates,
    left_window,
    mark_backlog_step,
    removable,
    remove_expired_step,
    remove_fine_buckets_step,
    ttl_index,
)
from api_server.store import history_id

NOW = datetime(2027, 6, 1, tzinfo=UTC)


def test_expiry_is_observation_plus_retention_and_zero_keeps_all() -> None:
    assert expire_at(NOW, 400) == NOW + timedelta(days=400)
    assert expire_at(NOW, 0) is None
    assert DEFAULT_RETENTION_DAYS == 400


def test_the_plan_never_takes_the_newest_100_trigger_records() -> None:
    old = NOW - timedelta(days=500)
    # 150 trigger records, all older than the retention, interleaved with 20 old backfill ones.
    records = [(old - timedelta(hours=i), False) for i in range(150)]
    records += [(old - timedelta(days=10, hours=i), True) for i in range(20)]
    records.sort(key=lambda r: r[0], reverse=True)
    planned = removable(records, NOW, 400)
    triggers = [t for t, backfilled in records if not backfilled]
    assert set(triggers[:100]).isdisjoint(planned)
    assert len(planned) == 50 + 20
    assert removable(records, NOW, 0) == []


def test_the_plan_keeps_recent_records() -> None:
    records = [(NOW - timedelta(days=d), d % 2 == 0) for d in range(0, 600, 3)]
    records.sort(key=lambda r: r[0], reverse=True)
    planned = removable(records, NOW, 400, keep_newest=0)
    assert planned and all(t < NOW - timedelta(days=400) for t in planned)
    assert len(planned) == sum(1 for t, _ in records if t < NOW - timedelta(days=400))


def test_records_leaving_the_deviation_window_get_an_expiry() -> None:
    window = tuple((NOW - timedelta(minutes=i), 100.0 + i) for i in range(100))
    rolled = roll_window(window, NOW + timedelta(minutes=1), 99.0)
    gone = left_window(window, rolled)
    assert gone == [NOW - timedelta(minutes=99)]
    [(query, update)] = expiry_updates("bitcoin", gone, 400)
    assert query == {"_id": history_id("bitcoin", gone[0])}
    assert update["$set"][EXPIRE_FIELD] == (gone[0] + timedelta(days=400)).replace(tzinfo=None)
    assert expiry_updates("bitcoin", gone, 0) == []


def test_ttl_index_is_on_expire_at_and_mongomock_accepts_it() -> None:
    spec = ttl_index(400)
    assert spec is not None and spec.options["expireAfterSeconds"] == 0
    assert spec.keys == [(EXPIRE_FIELD, pymongo.ASCENDING)]
    collection = mongomock.MongoClient().db.prices
    collection.create_index(spec.keys, **spec.options)
    assert collection.index_information()[spec.options["name"]]["expireAfterSeconds"] == 0
    assert ttl_index(0) is None


def test_removal_goes_in_bounded_steps_and_spares_records_without_expiry() -> None:
    collection = mongomock.MongoClient().db.prices
    naive_now = NOW.replace(tzinfo=None)
    collection.insert_many(
        [{"_id": f"old{i}", EXPIRE_FIELD: naive_now - timedelta(hours=i + 1)} for i in range(12)]
        + [{"_id": f"later{i}", EXPIRE_FIELD: naive_now + timedelta(hours=1)} for i in range(3)]
        + [{"_id": f"kept{i}"} for i in range(4)]
    )
    assert remove_expired_step(collection, NOW, step=5) == 5
    assert remove_expired_step(collection, NOW, step=5) == 5
    assert remove_expired_step(collection, NOW, step=5) == 2
    assert remove_expired_step(collection, NOW, step=5) == 0
    assert sorted(d["_id"] for d in collection.find())[:3] == ["kept0", "kept1", "kept2"]
    assert collection.count_documents({}) == 7


def test_fine_buckets_older_than_four_days_go_in_steps() -> None:
    collection = mongomock.MongoClient().db.buckets_5m
    naive_now = NOW.replace(tzinfo=None)
    collection.insert_many(
        [{"_id": f"b{d}", "start": naive_now - timedelta(days=d, minutes=1)} for d in range(8)]
    )
    assert remove_fine_buckets_step(collection, NOW, step=10) == 4
    assert sorted(d["_id"] for d in collection.find()) == ["b0", "b1", "b2", "b3"]


def test_records_from_before_the_scheme_are_marked_in_steps_outside_the_window() -> None:
    collection = mongomock.MongoClient().db.prices
    naive = NOW.replace(tzinfo=None)
    collection.insert_many(
        [
            {"_id": f"b{i}", "coin": "bitcoin", "observedAt": naive - timedelta(days=i)}
            for i in range(10)
        ]
        + [{"_id": "e1", "coin": "ethereum", "observedAt": naive - timedelta(days=9)}]
    )
    window_oldest = NOW - timedelta(days=3)  # b0..b3 are the deviation window
    assert mark_backlog_step(collection, "bitcoin", window_oldest, 400, step=4) == 4
    assert mark_backlog_step(collection, "bitcoin", window_oldest, 400, step=4) == 2
    assert mark_backlog_step(collection, "bitcoin", window_oldest, 400, step=4) == 0
    marked = {d["_id"]: d[EXPIRE_FIELD] for d in collection.find({EXPIRE_FIELD: {"$exists": True}})}
    assert sorted(marked) == ["b4", "b5", "b6", "b7", "b8", "b9"]
    assert marked["b9"] == naive - timedelta(days=9) + timedelta(days=400)
    assert mark_backlog_step(collection, "ethereum", window_oldest, 0) == 0
