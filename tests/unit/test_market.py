from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from api_server.domain import Observation
from api_server.history import thin
from api_server.market import sort_coins
from tests.unit.conftest import Harness
from tests.unit.fakes import T0, ScriptedSource

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


def test_history_is_oldest_first_and_bounded_by_days(loaded: Harness) -> None:
    now = datetime.now(UTC)
    for hours in (1, 30, 24 * 8):
        loaded.store.add_observation(
            Observation("bitcoin", now - timedelta(hours=hours), 1.0 * hours, 2.0, 0.1, "t")
        )
    body = loaded.client.get("/api/history?coin=bitcoin&days=7").get_json()
    assert body["coin"] == "bitcoin" and body["days"] == 7
    assert [p["price"] for p in body["points"]] == [30.0, 1.0]
    assert set(body["points"][0]) == {"time", "price", "marketCap"}
    assert body["points"][0]["time"].endswith("Z")
    default = loaded.client.get("/api/history?coin=BITCOIN").get_json()
    assert default["days"] == 7 and len(default["points"]) == 2
    year = loaded.client.get("/api/history?coin=bitcoin&days=365").get_json()
    ingested_within_a_year = now - T0 < timedelta(days=365)
    assert [p["price"] for p in year["points"]][-3:] == [192.0, 30.0, 1.0]
    assert len(year["points"]) == 3 + ingested_within_a_year


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
    ],
)
def test_history_errors(loaded: Harness, query: str, status: int, words: str) -> None:
    resp = loaded.client.get(f"/api/history?{query}")
    assert resp.status_code == status
    assert words in resp.get_json()["error"]


def test_history_of_a_coin_without_data_is_404(harness: Harness) -> None:
    resp = harness.client.get("/api/history?coin=bitcoin")
    assert resp.status_code == 404 and "no data" in resp.get_json()["error"]


def test_thin_keeps_first_last_and_an_even_spread() -> None:
    items = [
        Observation("c", T0 + timedelta(minutes=i), float(i), 1.0, 0.0, "t") for i in range(5000)
    ]
    kept = thin(items, 1000)
    assert len(kept) == 1000
    assert kept[0] is items[0] and kept[-1] is items[-1]
    gaps = {b.price - a.price for a, b in zip(kept, kept[1:], strict=False)}
    assert gaps <= {5.0, 6.0}
    assert thin(items[:10], 1000) == items[:10]


def test_history_is_capped_at_1000_points(loaded: Harness) -> None:
    now = datetime.now(UTC)
    for i in range(1500):
        loaded.store.add_observation(
            Observation("ethereum", now - timedelta(minutes=i + 1), float(i), 1.0, 0.0, "t")
        )
    points = loaded.client.get("/api/history?coin=ethereum&days=2").get_json()["points"]
    assert len(points) == 1000
    assert points[0]["price"] == 1499.0 and points[-1]["price"] == 0.0
