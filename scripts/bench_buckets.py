"""Measure bucket queries and bucket upkeep against history size, on the embedded store (mongomock).

Usage: .venv/bin/python scripts/bench_buckets.py [--sizes 1000,10000,100000] [--coins 3]

For each size it stores that many trigger records per coin (15 minutes apart, ending now) both as
raw history and as buckets (5-minute buckets older than FINE_BUCKET_DAYS pruned, as retention
does), then times, per request, today's read (raw history since `days` ago, thinned to 1,000) and
the bucket reads (mongomock documents, and the embedded store's MemoryBuckets), for days 1, 7, 30
and 365; and the upkeep of one new record (`add`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import mongomock

from api_server.buckets import (
    INTERVALS,
    Bucket,
    Buckets,
    MemoryBuckets,
    bucket_id,
    bucket_start,
    choose_interval,
    merge,
    to_document,
)
from api_server.catalog import thin
from api_server.retention import FINE_BUCKET_DAYS
from api_server.store import HISTORY, Store, history_id, to_bson_time

SPACING = timedelta(minutes=15)
DAYS = (1, 7, 30, 365)


@dataclass(frozen=True)
class Record:
    coin: str
    observed_at: datetime
    price: float
    market_cap: float
    volume_24h: float | None
    deviation: float | None


def records(coin: str, count: int, now: datetime) -> list[Record]:
    """Return `count` records of a coin, SPACING apart, ending now."""
    return [
        Record(coin, now - SPACING * i, 100.0 + (i % 97), 1e9 + i, 5e7, 1.0)
        for i in range(count - 1, -1, -1)
    ]


def fill(db: object, coin: str, rows: list[Record], now: datetime) -> None:
    """Store raw records and their buckets directly (the fill itself is not measured)."""
    db[HISTORY].insert_many(  # type: ignore[index]
        {
            "_id": history_id(r.coin, r.observed_at),
            "coin": r.coin,
            "observedAt": to_bson_time(r.observed_at),
            "price": r.price,
            "marketCap": r.market_cap,
            "change24h": 0.0,
            "source": "bench",
        }
        for r in rows
    )
    fine_cutoff = now - timedelta(days=FINE_BUCKET_DAYS)
    for interval in INTERVALS:
        folded: dict[str, Bucket] = {}
        for r in rows:
            if interval == "5m" and r.observed_at < fine_cutoff:
                continue
            key = bucket_id(coin, interval, bucket_start(r.observed_at, interval))
            folded[key] = merge(folded.get(key), r, interval)
        if folded:
            db[f"buckets_{interval}"].insert_many(  # type: ignore[index]
                {"_id": key, **to_document(b), "version": 1} for key, b in folded.items()
            )


def read_raw(store: Store, since: datetime) -> object:
    """Today's history read: every record since a moment, thinned to 1,000."""
    return thin(store.history("coin0", since), 1000)


def median_ms(action: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of `action` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench(size: int, coins: int, repeat: int) -> None:
    """Print one table row per `days` for one history size."""
    now = datetime.now(UTC)
    db: Any = mongomock.MongoClient().db
    names = [f"coin{i}" for i in range(coins)]
    for name in names:
        fill(db, name, records(name, size, now), now)
    store, buckets, memory = Store(db), Buckets(db), MemoryBuckets()
    for name in names:
        memory.add_many(records(name, size, now))
    memory.remove_before("5m", now - timedelta(days=FINE_BUCKET_DAYS), step=10**9)
    counts = {i: db[f"buckets_{i}"].count_documents({}) for i in INTERVALS}
    print(f"\n{size:,} records per coin x {coins} coins; bucket documents: {counts}")
    print("days  interval  points  raw+thin ms  mongomock buckets ms  memory buckets ms")
    for days in DAYS:
        interval = choose_interval(days)
        since = now - timedelta(days=days)
        raw = median_ms(partial(read_raw, store, since), max(3, repeat // 4))
        got = buckets.query("coin0", interval, since)
        assert got == memory.query("coin0", interval, since)
        in_db = median_ms(partial(buckets.query, "coin0", interval, since), repeat)
        in_memory = median_ms(partial(memory.query, "coin0", interval, since), repeat)
        print(
            f"{days:>4}  {interval:>8}  {len(got):>6}  {raw:>11.1f}  {in_db:>20.1f}"
            f"  {in_memory:>17.3f}"
        )
    for label, target in (("mongomock", buckets), ("memory", memory)):
        moments = iter([now + timedelta(seconds=s + 1) for s in range(repeat)])

        def add_one(
            target: Buckets | MemoryBuckets = target, moments: Iterator[datetime] = moments
        ) -> None:
            target.add(Record("coin0", next(moments), 150.0, 2e9, 6e7, 2.0))

        print(f"upkeep of one record, {label} (3 buckets): {median_ms(add_one, repeat):.3f} ms")


def main() -> None:
    """Parse the sizes and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--coins", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        bench(size, args.coins, args.repeat)


if __name__ == "__main__":
    main()
