"""The simulated market chart's plans, check order, chart faults and served log."""

from __future__ import annotations

from typing import Any

import pytest

from cryptostats_dev.sim_state import SimulatedCoinGecko
from tests.unit.sim_client import T0, Answer, ManualClock, SimClient

DAY_MS = 86_400_000
PRO = {"x-cg-pro-api-key": "CG-pro-secret-0123456789"}
DEMO = {"x-cg-demo-api-key": "CG-demo-secret-0123456789"}


@pytest.fixture
def server() -> SimClient:
    return SimClient(SimulatedCoinGecko(seed=5, extra_coins=10, now_ms=ManualClock(T0)))


def chart(
    srv: SimClient, coin: str = "bitcoin", headers: dict[str, str] | None = None, **params: Any
) -> Answer:
    query = {"vs_currency": "usd", "precision": "full", **params}
    return srv.get(f"/coins/{coin}/market_chart", headers=headers, **query)


def now_ms() -> int:
    return int(T0.timestamp() * 1000)


# --- plans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [None, DEMO])
@pytest.mark.parametrize("days", ["366", "max"])
def test_keyless_and_demo_reach_365_days(
    server: SimClient, headers: dict[str, str] | None, days: str
) -> None:
    assert chart(server, headers=headers, days=365).status_code == 200
    response = chart(server, headers=headers, days=days)
    assert response.status_code == 401
    assert response.json()["error"]["status"]["error_code"] == 10012


def test_a_demo_key_in_the_query_is_no_pro_key(server: SimClient) -> None:
    response = chart(server, days=400, x_cg_demo_api_key="CG-demo-secret-0123456789")
    assert response.status_code == 401


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_pro_key_reaches_beyond_a_year_in_daily_points(server: SimClient, how: str) -> None:
    if how == "header":
        response = chart(server, headers=PRO, days=400)
    else:
        response = chart(server, days=400, x_cg_pro_api_key=PRO["x-cg-pro-api-key"])
    assert response.status_code == 200, response.text
    times = [t for t, _ in response.json()["prices"]]
    assert len(times) == 401
    assert times[0] == (now_ms() // DAY_MS - 399) * DAY_MS
    assert times[-1] == now_ms()


def test_days_max_starts_at_the_coins_listing(server: SimClient) -> None:
    body = chart(server, "bitcoin", headers=PRO, days="max").json()
    first, last = body["prices"][0][0], body["prices"][-1][0]
    assert first == 1367107200000, "2013-04-28, where CoinGecko's bitcoin history starts"
    assert last == now_ms()
    assert len(body["prices"]) == (now_ms() - first) // DAY_MS + 2
    assert all(len(body[name]) == len(body["prices"]) for name in body)


@pytest.mark.parametrize("days", ["1", "366", "max", "abc", "0", "-3"])
@pytest.mark.parametrize("headers", [None, PRO])
def test_an_unknown_id_is_404_before_any_days_check(
    server: SimClient, days: str, headers: dict[str, str] | None
) -> None:
    response = chart(server, "no-such-coin", headers=headers, days=days)
    assert (response.status_code, response.json()) == (404, {"error": "coin not found"})


@pytest.mark.parametrize("days", ["abc", "0", "-3", ""])
def test_bad_days_of_a_known_coin_are_a_400(server: SimClient, days: str) -> None:
    response = chart(server, days=days)
    assert (response.status_code, response.json()) == (400, {"error": "invalid days"})


def test_interval_daily_gives_daily_points_for_short_ranges(server: SimClient) -> None:
    times = [t for t, _ in chart(server, days=10, interval="daily").json()["prices"]]
    assert len(times) == 11
    assert all(t % DAY_MS == 0 for t in times[:-1])


# --- chart faults --------------------------------------------------------------------------------


def set_fault(srv: SimClient, **fault: Any) -> None:
    response = srv.post("/_sim/fault", json=fault)
    assert response.status_code == 200, response.text


def test_scattered_nulls_hit_some_market_caps_and_volumes_never_prices(server: SimClient) -> None:
    clean = chart(server, days=30).json()
    set_fault(server, mode="scattered_nulls", ratio=0.2)
    body = chart(server, days=30).json()
    assert [len(body[name]) for name in body] == [len(clean["prices"])] * 3
    assert body["prices"] == clean["prices"]
    for name in ("market_caps", "total_volumes"):
        nulls = [t for t, value in body[name] if value is None]
        assert 0.1 * len(body[name]) < len(nulls) < 0.3 * len(body[name]), name
        kept = {t: v for t, v in body[name] if v is not None}
        assert all(kept[t] == v for t, v in clean[name] if t in kept)
    caps = {t for t, v in body["market_caps"] if v is None}
    volumes = {t for t, v in body["total_volumes"] if v is None}
    assert caps != volumes, "each array has its own gaps"


def test_scattered_nulls_are_the_same_points_on_every_call(server: SimClient) -> None:
    set_fault(server, mode="scattered_nulls")
    first, second = (chart(server, days=30).json() for _ in range(2))
    assert first["market_caps"] == second["market_caps"]


def test_chart_faults_touch_only_the_listed_coins(server: SimClient) -> None:
    set_fault(server, mode="scattered_nulls", coins=["ethereum"], ratio=1)
    assert all(v is not None for _, v in chart(server, "bitcoin", days=2).json()["market_caps"])
    assert all(v is None for _, v in chart(server, "ethereum", days=2).json()["market_caps"])


def test_ragged_series_gives_arrays_of_different_lengths(server: SimClient) -> None:
    clean = chart(server, days=1).json()
    set_fault(server, mode="ragged_series", ratio=0.05)
    body = chart(server, days=1).json()
    prices, caps, volumes = (body[name] for name in ("prices", "market_caps", "total_volumes"))
    assert prices == clean["prices"]
    assert len(caps) < len(prices) and len(volumes) < len(prices)
    assert caps[-1][0] < prices[-1][0], "the newest market cap is missing"
    assert volumes[0][0] > prices[0][0], "the oldest volume is missing"
    for name, series in (("market_caps", caps), ("total_volumes", volumes)):
        assert {tuple(entry) for entry in series} <= {tuple(entry) for entry in clean[name]}


def test_chart_fault_ratio_is_validated(server: SimClient) -> None:
    for ratio in (-0.1, 1.5, "half", True):
        response = server.post("/_sim/fault", json={"mode": "scattered_nulls", "ratio": ratio})
        assert response.status_code == 400, ratio
        assert "ratio" in response.json()["error"]


# --- the served log ------------------------------------------------------------------------------


def test_the_served_log_holds_each_chart_as_served(server: SimClient) -> None:
    body = chart(server, days=2).json()
    [entry] = server.get("/_sim/served").json()
    assert entry["path"] == "/coins/bitcoin/market_chart"
    assert entry["status"] == 200
    logged = entry["chart"]
    assert (logged["coin"], logged["days"], logged["points"]) == ("bitcoin", 2, len(body["prices"]))
    assert {name: logged[name] for name in body} == body
    assert entry["coins"]["bitcoin"]["current_price"] == body["prices"][-1][1]


def test_the_served_log_holds_chart_faults_and_refusals(server: SimClient) -> None:
    set_fault(server, mode="ragged_series", count=1)
    faulty = chart(server, days=1).json()
    chart(server, days=400)
    chart(server, "no-such-coin", days=1)
    chart(server, headers=PRO, days="max")
    entries = server.sim.served
    assert [(e["status"], e["fault"]) for e in entries] == [
        (200, "ragged_series"),
        (401, None),
        (404, None),
        (200, None),
    ]
    assert entries[0]["chart"]["market_caps"] == faulty["market_caps"]
    assert [e["chart"]["days"] for e in entries] == [1, 400, 1, "max"]
    assert [e["chart"]["points"] for e in entries][1:3] == [0, 0]
    assert [e["chart"]["coin"] for e in entries][1:3] == ["bitcoin", "no-such-coin"]


def test_an_early_fault_on_a_chart_is_logged_with_its_chart_call(server: SimClient) -> None:
    set_fault(server, mode="server_error", count=1)
    assert chart(server, "ethereum", days=30).status_code == 500
    [entry] = server.sim.served
    assert entry["chart"] == {"coin": "ethereum", "days": 30, "points": 0}
