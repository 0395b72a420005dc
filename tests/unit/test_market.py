from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from api_server.backfill import BackfillRecord
from api_server.market import sort_coins
from tests.unit.conftest import Harness
from tests.unit.fakes import ScriptedSource

PRICES = {"bitcoin": 60000.0, "ethereum": 3000.0, "matic-network": 0.5}


@pytest.fixture
def loaded(make_harness: Callable[..., Harness]) -> Harness:
    harness = make_harness(source=ScriptedSource(lambda coin, n: PRICES[coin] + n))
    harness.ingest("test")
    return harness


def test_coins_lists_every_tracked_coin_with_its_data(loaded: Harness) -> None:
    resp = loaded.client.get("/api/coins")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 3
    assert [c["coin"] for c in body["coins"]] == ["bitcoin", "ethereum", "matic-network"]
    btc = body["coins"][0]
    assert btc == {
        "coin": "bitcoin",
        "symbol": "bit",
        "name": "Bitcoin",
        "price": 60001.0,
        "marketCap": 60001.0 * 1000,
        "24hChange": 1.5,
        "volume24h": 60001.0 * 50,
        "deviation": 0.0,
        "samples": 1,
        "observedAt": "2026-01-01T00:01:00.000Z",
        "updatedAt": btc["updatedAt"],
        "source": "scripted.test",
    }
    assert btc["updatedAt"].endswith("Z")


def test_coin_without_data_has_nulls(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(
        source=ScriptedSource(lambda coin, n: None if coin == "ethereum" else 5.0)
    )
    harness.ingest("test")
    coins = harness.client.get("/api/coins?sort=price").get_json()["coins"]
    eth = coins[-1]
    assert eth["coin"] == "ethereum" and eth["samples"] == 0
    assert eth["price"] is None and eth["observedAt"] is None and eth["symbol"] == ""


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("sort=marketCap", ["bitcoin", "ethereum", "matic-network"]),
        ("sort=marketCap&order=asc", ["matic-network", "ethereum", "bitcoin"]),
        ("sort=volume24h&order=asc", ["matic-network", "ethereum", "bitcoin"]),
        ("sort=price&limit=2", ["bitcoin", "ethereum"]),
        ("sort=coin", ["bitcoin", "ethereum", "matic-network"]),
        ("sort=coin&order=desc", ["matic-network", "ethereum", "bitcoin"]),
        ("limit=1", ["bitcoin"]),
    ],
)
def test_coins_sort_and_limit(loaded: Harness, query: str, order: list[str]) -> None:
    body = loaded.client.get(f"/api/coins?{query}").get_json()
    assert [c["coin"] for c in body["coins"]] == order
    assert body["count"] == len(order)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("sort=volume", "'sort' must be one of"),
        ("order=up", "'order' must be one of"),
        ("limit=0", "'limit' must be a whole number in 1..3"),
        ("limit=4", "1..3"),
        ("limit=-1", "1..3"),
        ("limit=1.5", "1..3"),
        ("limit=abc", "1..3"),
        ("limit=1&limit=2", "once"),
    ],
)
def test_coins_bad_parameters_are_400(loaded: Harness, query: str, words: str) -> None:
    resp = loaded.client.get(f"/api/coins?{query}")
    assert resp.status_code == 400
    assert words in resp.get_json()["error"]


def test_sort_puts_unknown_last_in_both_orders() -> None:
    entries = [{"coin": "a", "price": None}, {"coin": "b", "price": 2}, {"coin": "c", "price": 1}]
    assert [e["coin"] for e in sort_coins(entries, "price", "asc")] == ["c", "b", "a"]
    assert [e["coin"] for e in sort_coins(entries, "price", "desc")] == ["b", "c", "a"]


def backfill(harness: Harness, coin: str, points: list[tuple[datetime, float]]) -> None:
    """Store backfilled records through the ingestor (buckets, series version), then reload."""
    ingestor = harness.state.ingestor
    records = [
        BackfillRecord(coin, at, price, price * 10, price * 100, "t") for at, price in points
    ]
    ingestor.backfilled(ingestor.history.add_records(records))
    harness.state.read_model.refresh()


def test_history_serves_buckets_oldest_first_bounded_by_days(loaded: Harness) -> None:
    now = datetime.now(UTC)
    backfill(loaded, "bitcoin", [(now - timedelta(hours=h), 1.0 * h) for h in (1, 30, 24 * 8)])
    body = loaded.client.get("/api/history?coin=bitcoin&days=7").get_json()
    assert body["coin"] == "bitcoin" and body["days"] == 7 and body["interval"] == "1h"
    assert [p["price"] for p in body["points"]] == [30.0, 1.0]
    point = body["points"][-1]
    assert set(point) == {
        "time",
        "price",
        "marketCap",
        "open",
        "high",
        "low",
        "volume24h",
        "deviation",
    }
    assert point["volume24h"] == 100.0 and point["deviation"] is None  # backfilled
    assert point["time"].endswith(":00:00.000Z")  # the bucket's start
    year = loaded.client.get("/api/history?coin=bitcoin&days=365").get_json()
    assert year["interval"] == "1d"
    assert year["points"][-1]["price"] == 1.0


def test_a_bucket_keeps_open_high_low_close_and_the_trigger_deviation(loaded: Harness) -> None:
    trigger = loaded.client.get("/api/history?coin=bitcoin&days=365").get_json()["points"]
    assert trigger[-1]["deviation"] == 0.0  # one trigger record: the deviation served after it
    now = datetime.now(UTC).replace(minute=30)
    backfill(
        loaded,
        "ethereum",
        [(now + timedelta(minutes=m), p) for m, p in ((1, 5.0), (-20, 3.0), (10, 9.0), (-10, 1.0))],
    )
    (bucket,) = loaded.client.get("/api/history?coin=ethereum&days=1&interval=1h").get_json()[
        "points"
    ][-1:]
    assert (bucket["open"], bucket["high"], bucket["low"], bucket["price"]) == (3.0, 9.0, 1.0, 9.0)


@pytest.mark.parametrize(
    ("query", "interval"),
    [
        ("days=1", "5m"),
        ("days=3", "5m"),
        ("days=4", "1h"),
        ("days=41", "1h"),
        ("days=42", "1d"),
        ("days=3&interval=5m", "5m"),
        ("days=365&interval=1d", "1d"),
    ],
)
def test_the_interval_depends_on_days_only(loaded: Harness, query: str, interval: str) -> None:
    body = loaded.client.get(f"/api/history?coin=bitcoin&{query}").get_json()
    assert body["interval"] == interval and len(body["points"]) <= 1000


@pytest.mark.parametrize(
    ("query", "largest"), [("days=4&interval=5m", 3), ("days=42&interval=1h", 41)]
)
def test_an_interval_too_fine_is_a_400_naming_the_largest_days(
    loaded: Harness, query: str, largest: int
) -> None:
    resp = loaded.client.get(f"/api/history?coin=bitcoin&{query}")
    assert resp.status_code == 400 and resp.get_json()["maxDays"] == largest
    assert f"days={largest}" in resp.get_json()["error"]


def test_history_as_csv_for_spreadsheets(loaded: Harness) -> None:
    now = datetime.now(UTC)
    backfill(loaded, "bitcoin", [(now - timedelta(hours=2), 7.5)])
    resp = loaded.client.get("/api/history?coin=bitcoin&days=1&format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="bitcoin-1d-5m.csv"'
    lines = resp.get_data(as_text=True).splitlines()
    assert lines[0] == "time,open,high,low,close,marketCap,volume24h"
    assert lines[1].split(",")[1:] == ["7.5", "7.5", "7.5", "7.5", "75.0", "750.0"]


def test_history_revalidates_with_304_until_the_history_changes(loaded: Harness) -> None:
    first = loaded.client.get("/api/history?coin=bitcoin&days=30")
    etag = first.headers["ETag"]
    again = loaded.client.get("/api/history?coin=bitcoin&days=30", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    backfill(loaded, "bitcoin", [(datetime.now(UTC) - timedelta(days=2), 1.0)])
    changed = loaded.client.get(
        "/api/history?coin=bitcoin&days=30", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("coin=bitcoin&days=0", 400, "'days' must be a whole number in 1..365"),
        ("coin=bitcoin&days=366", 400, "1..365"),
        ("coin=bitcoin&days=seven", 400, "1..365"),
        ("coin=bitcoin&days=7&days=8", 400, "once"),
        ("coin=dogecoin", 400, "not tracked"),
        ("days=7", 400, "missing"),
        ("coin=bitcoin&coin=ethereum", 400, "once"),
        ("coin=bitcoin&interval=2m", 400, "'interval' must be one of"),
        ("coin=bitcoin&format=xml", 400, "'format' must be one of"),
    ],
)
def test_history_errors(loaded: Harness, query: str, status: int, words: str) -> None:
    resp = loaded.client.get(f"/api/history?{query}")
    assert resp.status_code == status
    assert words in resp.get_json()["error"]


def test_history_of_a_coin_without_data_is_404(harness: Harness) -> None:
    resp = harness.client.get("/api/history?coin=bitcoin")
    assert resp.status_code == 404 and "no data" in resp.get_json()["error"]
