"""OHLC buckets: the 1,000-point rule, merging in any order, compare-and-swap on mongomock."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from api_server.buckets import (
    INTERVALS,
    Bucket,
    BucketConflict,
    Buckets,
    MemoryBuckets,
    bucket_id,
    bucket_start,
    choose_interval,
    max_days,
    merge,
    open_buckets,
)
from api_server.errors import InvalidRequest, StoreUnavailable

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["mongo", "memory"])
def fresh(request: pytest.FixtureRequest) -> Buckets | MemoryBuckets:
    """Buckets in a (mongomock) database, or the embedded store's in-process ones."""
    embedded = request.param == "memory"
    buckets = open_buckets(mongomock.MongoClient().db, embedded=embedded)
    buckets.ensure_indexes()
    return buckets


@dataclass(frozen=True)
class Record:
    coin: str
    observed_at: datetime
    price: float
    market_cap: float = 1e9
    volume_24h: float | None = 5e7
    deviation: float | None = None


@pytest.mark.parametrize(
    ("days", "interval"),
    [(1, "5m"), (3, "5m"), (4, "1h"), (7, "1h"), (30, "1h"), (41, "1h"), (42, "1d"), (365, "1d")],
)
def test_without_interval_the_finest_with_at_most_1000_buckets(days: int, interval: str) -> None:
    chosen = choose_interval(days)
    assert chosen == interval
    assert days * 86400 // INTERVALS[chosen] <= 1000


def test_max_days_per_interval() -> None:
    assert (max_days("5m"), max_days("1h"), max_days("1d")) == (3, 41, 1000)


@pytest.mark.parametrize(("interval", "days", "allowed"), [("5m", 4, 3), ("1h", 42, 41)])
def test_a_too_fine_interval_is_a_400_naming_the_largest_days(
    interval: str, days: int, allowed: int
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        choose_interval(days, interval)
    assert caught.value.status == 400
    body = caught.value.to_dict()
    assert body["maxDays"] == allowed and f"days={allowed}" in body["error"]
    assert choose_interval(allowed, interval) == interval


def test_an_unknown_interval_is_a_400_listing_the_allowed_ones() -> None:
    with pytest.raises(InvalidRequest) as caught:
        choose_interval(1, "15m")
    assert caught.value.to_dict()["intervals"] == ["5m", "1h", "1d"]


def test_bucket_start_is_aligned_in_utc() -> None:
    moment = datetime(2026, 3, 4, 13, 47, 59, 999_000, tzinfo=UTC)
    assert bucket_start(moment, "5m") == datetime(2026, 3, 4, 13, 45, tzinfo=UTC)
    assert bucket_start(moment, "1h") == datetime(2026, 3, 4, 13, tzinfo=UTC)
    assert bucket_start(moment, "1d") == datetime(2026, 3, 4, tzinfo=UTC)
    assert bucket_id("bitcoin", "1h", moment) == "bitcoin|1h|2026-03-04T13:47:59"


def expected(records: list[Record], interval: str) -> dict[datetime, dict[str, Any]]:
    """Aggregate the slow, obvious way: sort by time and read the answer off."""
    by_start: dict[datetime, list[Record]] = {}
    for record in sorted(records, key=lambda r: r.observed_at):
        by_start.setdefault(bucket_start(record.observed_at, interval), []).append(record)
    out = {}
    for start, group in by_start.items():
        with_dev = [r for r in group if r.deviation is not None]
        out[start] = {
            "open": group[0].price,
            "high": max(r.price for r in group),
            "low": min(r.price for r in group),
            "close": group[-1].price,
            "market_cap": group[-1].market_cap,
            "volume_24h": group[-1].volume_24h,
            "deviation": with_dev[-1].deviation if with_dev else None,
            "count": len(group),
        }
    return out


def summary(buckets: list[Bucket]) -> dict[datetime, dict[str, Any]]:
    return {
        b.start: {
            "open": b.open,
            "high": b.high,
            "low": b.low,
            "close": b.close,
            "market_cap": b.market_cap,
            "volume_24h": b.volume_24h,
            "deviation": b.deviation,
            "count": b.count,
        }
        for b in buckets
    }


def random_records(rng: random.Random, n: int, coin: str = "bitcoin") -> list[Record]:
    seconds = rng.sample(range(0, 3 * 86400), n)
    return [
        Record(
            coin=coin,
            observed_at=T0 + timedelta(seconds=s, milliseconds=rng.randrange(1000)),
            price=round(rng.uniform(100, 200), 6),
            market_cap=rng.uniform(1e9, 2e9),
            volume_24h=rng.choice([None, rng.uniform(1e6, 1e7)]),
            deviation=rng.choice([None, None, rng.uniform(0, 5)]),
        )
        for s in seconds
    ]


@pytest.mark.parametrize("seed", range(5))
def test_merging_in_any_order_matches_sorting_first(seed: int) -> None:
    rng = random.Random(seed)
    records = random_records(rng, 300)
    shuffled = records[:]
    rng.shuffle(shuffled)
    for interval in INTERVALS:
        merged: dict[datetime, Bucket] = {}
        for record in shuffled:
            start = bucket_start(record.observed_at, interval)
            merged[start] = merge(merged.get(start), record, interval)
        assert summary(list(merged.values())) == expected(records, interval)


@pytest.mark.parametrize("seed", range(3))
def test_stored_buckets_match_whatever_the_order_and_batches(
    seed: int, fresh: Buckets | MemoryBuckets
) -> None:
    rng = random.Random(seed)
    records = random_records(rng, 400) + random_records(rng, 50, coin="ethereum")
    rng.shuffle(records)
    buckets = fresh
    position = 0
    while position < len(records):
        size = rng.choice([1, 1, 7, 60])
        buckets.add_many(records[position : position + size])
        position += size
    bitcoin = [r for r in records if r.coin == "bitcoin"]
    for interval in INTERVALS:
        stored = buckets.query("bitcoin", interval, T0)
        assert [b.start for b in stored] == sorted(b.start for b in stored)
        assert summary(stored) == expected(bitcoin, interval)


def test_a_backfill_after_trigger_records_moves_the_open_not_the_close(
    fresh: Buckets | MemoryBuckets,
) -> None:
    buckets = fresh
    hour = datetime(2026, 1, 1, 10, tzinfo=UTC)
    buckets.add(Record("bitcoin", hour + timedelta(minutes=40), 110.0, deviation=2.5))
    buckets.add(Record("bitcoin", hour + timedelta(minutes=50), 120.0, 2e9, 9e7, deviation=3.0))
    buckets.add_many(
        [
            Record("bitcoin", hour + timedelta(minutes=5), 90.0, volume_24h=1.0),
            Record("bitcoin", hour + timedelta(minutes=1), 100.0, volume_24h=2.0),
        ]
    )
    [bucket] = buckets.query("bitcoin", "1h", hour)
    assert (bucket.open, bucket.high, bucket.low, bucket.close) == (100.0, 120.0, 90.0, 120.0)
    assert (bucket.market_cap, bucket.volume_24h, bucket.deviation) == (2e9, 9e7, 3.0)
    assert bucket.count == 4 and bucket.open_at == hour + timedelta(minutes=1)


def test_a_null_deviation_never_replaces_a_known_one(fresh: Buckets | MemoryBuckets) -> None:
    buckets = fresh
    buckets.add(Record("bitcoin", T0 + timedelta(minutes=1), 1.0, deviation=0.5))
    buckets.add(Record("bitcoin", T0 + timedelta(minutes=2), 2.0, deviation=None))
    [bucket] = buckets.query("bitcoin", "5m", T0)
    assert bucket.deviation == 0.5 and bucket.close == 2.0


def test_query_bounds_coin_and_the_bucket_holding_since(fresh: Buckets | MemoryBuckets) -> None:
    buckets = fresh
    buckets.add_many(
        [Record("bitcoin", T0 + timedelta(hours=h, minutes=30), 100.0 + h) for h in range(10)]
        + [Record("ethereum", T0 + timedelta(hours=h), 5.0) for h in range(10)]
    )
    since = T0 + timedelta(hours=2, minutes=45)
    until = T0 + timedelta(hours=6)
    got = buckets.query("bitcoin", "1h", since, until)
    assert [b.start.hour for b in got] == [2, 3, 4, 5, 6]
    assert {b.coin for b in got} == {"bitcoin"}
    assert [b.close for b in got] == [102.0, 103.0, 104.0, 105.0, 106.0]


class RacingCollection:
    """A collection proxy that lets another writer act just before this one writes."""

    def __init__(self, inner: Any, rival: Any) -> None:
        self.inner = inner
        self.rival = rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _race(self) -> None:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival()

    def insert_one(self, doc: dict[str, Any]) -> Any:
        self._race()
        return self.inner.insert_one(doc)

    def update_one(self, *args: Any, **kwargs: Any) -> Any:
        self._race()
        return self.inner.update_one(*args, **kwargs)


@pytest.mark.parametrize("existing", [False, True])
def test_a_concurrent_writer_loses_no_record(existing: bool) -> None:
    db = mongomock.MongoClient().db
    other = Buckets(db)
    mine = Buckets(db)
    if existing:
        other.add(Record("bitcoin", T0 + timedelta(minutes=30), 150.0))
    rival = Record("bitcoin", T0 + timedelta(minutes=50), 300.0)
    mine.collections["1h"] = RacingCollection(db["buckets_1h"], lambda: other.add(rival))
    mine.add(Record("bitcoin", T0 + timedelta(minutes=10), 50.0))
    [bucket] = mine.query("bitcoin", "1h", T0)
    assert (bucket.open, bucket.close, bucket.low, bucket.high) == (50.0, 300.0, 50.0, 300.0)
    assert bucket.count == (3 if existing else 2)


def test_a_bucket_that_never_settles_raises() -> None:
    db = mongomock.MongoClient().db
    buckets = Buckets(db)
    buckets.add(Record("bitcoin", T0, 1.0))

    class Stubborn(RacingCollection):
        def update_one(self, *args: Any, **kwargs: Any) -> Any:
            self.inner.update_one({"_id": args[0]["_id"]}, {"$inc": {"version": 1}})
            return self.inner.update_one(*args, **kwargs)

    buckets.collections["1h"] = Stubborn(db["buckets_1h"], None)
    with pytest.raises(BucketConflict):
        buckets.add(Record("bitcoin", T0 + timedelta(minutes=1), 2.0))


def test_both_stores_answer_the_same() -> None:
    rng = random.Random(9)
    records = random_records(rng, 500)
    mongo, memory = Buckets(mongomock.MongoClient().db), MemoryBuckets()
    mongo.add_many(records)
    for record in records:
        memory.add(record)
    for interval in INTERVALS:
        since = T0 + timedelta(hours=7, minutes=3)
        assert mongo.query("bitcoin", interval, since) == memory.query("bitcoin", interval, since)


def test_memory_buckets_drop_old_fine_buckets_in_steps() -> None:
    buckets = MemoryBuckets()
    buckets.add_many(
        [Record(coin, T0 + timedelta(minutes=5 * i), 1.0) for i in range(10) for coin in "ab"]
    )
    cutoff = T0 + timedelta(minutes=25)
    assert buckets.remove_before("5m", cutoff, step=3) == 3
    assert buckets.remove_before("5m", cutoff, step=100) == 7
    assert [b.start for b in buckets.query("a", "5m", T0)][0] == cutoff
    assert len(buckets.query("b", "1h", T0)) == 1


def test_a_store_that_is_down_is_reported_as_unavailable() -> None:
    class Down:
        def find(self, *args: Any, **kwargs: Any) -> Any:
            raise ServerSelectionTimeoutError("no servers")

    buckets = Buckets(mongomock.MongoClient().db)
    buckets.collections = {name: Down() for name in INTERVALS}
    with pytest.raises(StoreUnavailable):
        buckets.add(Record("bitcoin", T0, 1.0))
    with pytest.raises(StoreUnavailable):
        buckets.query("bitcoin", "1h", T0)
