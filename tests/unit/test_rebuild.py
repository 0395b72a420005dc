"""Rebuilding buckets from raw history: same buckets as live upkeep, idempotent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import mongomock

from api_server.buckets import INTERVALS, Buckets
from api_server.domain import Observation
from api_server.rebuild import needs_rebuild, rebuild_buckets, rebuild_missing, stored_record
from api_server.store import Store

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def test_rebuild_matches_live_upkeep_and_can_run_twice() -> None:
    rng = random.Random(4)
    db = mongomock.MongoClient().db
    store = Store(db)
    for i in range(300):
        at = T0 + timedelta(minutes=7 * i, milliseconds=rng.randrange(1000))
        store.add_observation(Observation("bitcoin", at, rng.uniform(90, 110), 1e9, 0.5, "t"))
    store.add_observation(Observation("ethereum", T0, 3000.0, 4e8, 0.1, "t"))
    live = Buckets(mongomock.MongoClient().db)
    live.add_many(stored_record(doc) for doc in db["prices"].find({"coin": "bitcoin"}))

    rebuilt = Buckets(db)
    assert needs_rebuild(db, "bitcoin")
    assert rebuild_buckets(db, rebuilt, "bitcoin", chunk=64) == 300
    assert not needs_rebuild(db, "bitcoin") and needs_rebuild(db, "ethereum")
    assert rebuild_buckets(db, rebuilt, "bitcoin", chunk=1000) == 300
    for interval in INTERVALS:
        assert rebuilt.query("bitcoin", interval, T0) == live.query("bitcoin", interval, T0)
    assert sum(b.count for b in rebuilt.query("bitcoin", "1d", T0)) == 300
    assert rebuilt.query("bitcoin", "1d", T0)[0].volume_24h is None


def test_nothing_stored_needs_no_rebuild() -> None:
    assert not needs_rebuild(mongomock.MongoClient().db, "bitcoin")


def test_rebuild_missing_rebuilds_only_coins_without_buckets() -> None:
    db = mongomock.MongoClient().db
    buckets = Buckets(db)
    for coin, minute in (("bitcoin", 0), ("bitcoin", 1), ("ethereum", 0)):
        at = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
        db["prices"].insert_one(
            {"coin": coin, "observedAt": at, "price": 1.0 + minute, "marketCap": 1.0}
        )
    buckets.add_many([stored_record(db["prices"].find_one({"coin": "ethereum"}))])
    assert rebuild_missing(db, buckets, ["bitcoin", "ethereum", "solana"]) == {"bitcoin": 2}
    assert buckets.query("bitcoin", "1d", datetime(2026, 1, 1, tzinfo=UTC))[0].count == 2
