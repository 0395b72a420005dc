"""The simulated market is one seeded price path per coin: answers sample it, none moves it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cryptostats_dev.market import KNOWN_COINS
from cryptostats_dev.sim_prices import CoinPath, chart_step_ms
from cryptostats_dev.sim_state import SimulatedCoinGecko
from tests.unit.sim_client import T0, ManualClock, SimClient

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def simulator(clock: ManualClock, seed: int = 7) -> SimClient:
    return SimClient(SimulatedCoinGecko(seed=seed, extra_coins=20, now_ms=clock))


def chart(srv: SimClient, coin: str = "bitcoin", **params: Any) -> dict[str, list[list[Any]]]:
    response = srv.get(f"/coins/{coin}/market_chart", vs_currency="usd", precision="full", **params)
    assert response.status_code == 200, response.text
    body: dict[str, list[list[Any]]] = response.json()
    return body


def quote(srv: SimClient, coin: str = "bitcoin") -> dict[str, Any]:
    response = srv.get("/coins/markets", vs_currency="usd", precision="full", ids=coin)
    assert response.status_code == 200, response.text
    [row] = response.json()
    assert isinstance(row, dict)
    return row


def by_time(series: list[list[Any]]) -> dict[int, Any]:
    return {int(t): value for t, value in series}


def common(first: dict[int, Any], second: dict[int, Any]) -> list[int]:
    return sorted(set(first) & set(second))


def test_days_1_and_days_2_agree_on_every_hour_they_share() -> None:
    srv = simulator(ManualClock(T0))
    five_minutely = by_time(chart(srv, days=1)["prices"])
    hourly = by_time(chart(srv, days=2)["prices"])
    shared = common(five_minutely, hourly)
    assert len(shared) >= 23, "each hourly point is one of the 5-minute snapshots"
    assert all(five_minutely[t] == hourly[t] for t in shared)


def test_two_thirty_day_charts_differ_only_by_the_moving_now() -> None:
    clock = ManualClock(T0)
    srv = simulator(clock)
    first = chart(srv, days=30)
    clock.advance(90)
    second = chart(srv, days=30)
    for name in ("prices", "market_caps", "total_volumes"):
        before, after = by_time(first[name]), by_time(second[name])
        shared = common(before, after)
        assert len(shared) >= 718
        assert all(before[t] == after[t] for t in shared), name
    assert second["prices"][-1][0] - first["prices"][-1][0] == 90_000


def test_the_last_point_is_now_and_is_the_current_quote() -> None:
    clock = ManualClock(T0)
    srv = simulator(clock)
    row = quote(srv)
    body = chart(srv, days=1)
    now_ms = int(T0.timestamp() * 1000)
    assert datetime.fromisoformat(row["last_updated"]).timestamp() * 1000 == now_ms
    assert body["prices"][-1] == [now_ms, row["current_price"]]
    assert body["market_caps"][-1] == [now_ms, row["market_cap"]]
    assert body["total_volumes"][-1] == [now_ms, row["total_volume"]]


def test_a_quote_taken_at_a_chart_time_has_the_chart_price() -> None:
    charted = chart(simulator(ManualClock(T0)), "ethereum", days=7)
    clock = ManualClock(datetime(2020, 1, 1, tzinfo=UTC))
    quoting = simulator(clock)
    for t, price in charted["prices"][:-1:24]:
        clock.ms = t
        assert quote(quoting, "ethereum")["current_price"] == price


def test_chart_calls_move_no_price() -> None:
    def quotes(charts_between: int) -> list[float]:
        clock = ManualClock(T0)
        srv = simulator(clock)
        prices = []
        for _ in range(3):
            prices.append(quote(srv)["current_price"])
            for days in range(1, charts_between + 1):
                chart(srv, days=days)
            clock.advance(60)
        return prices

    assert quotes(charts_between=3) == quotes(charts_between=0)


def test_the_path_depends_on_the_seed() -> None:
    assert quote(simulator(ManualClock(T0), seed=1)) != quote(simulator(ManualClock(T0), seed=2))


def test_the_24h_figures_come_from_the_same_path() -> None:
    row = quote(simulator(ManualClock(T0)))
    clock = ManualClock(T0)
    clock.advance(-86_400)
    day_before = quote(simulator(clock))["current_price"]
    assert row["price_change_24h"] == pytest.approx(row["current_price"] - day_before)
    assert row["low_24h"] <= min(row["current_price"], day_before)
    assert row["high_24h"] >= max(row["current_price"], day_before)


@pytest.mark.parametrize("coin", ["bitcoin", "tether", "sim-coin-0007"])
def test_a_year_of_daily_prices_stays_plausible(coin: str) -> None:
    srv = simulator(ManualClock(T0))
    now = quote(srv, coin)["current_price"]
    prices = [p for _, p in chart(srv, coin, days=365)["prices"]]
    assert all(now / 5 < p < now * 5 for p in prices)
    assert len(set(prices)) == len(prices), "the path moves every day"
    if coin == "tether":
        assert all(0.98 < p < 1.02 for p in prices), "a stablecoin keeps its peg"


def test_five_minute_and_hourly_points_are_off_the_boundaries() -> None:
    srv = simulator(ManualClock(T0))
    for days, step in ((1, 5 * MINUTE_MS), (30, HOUR_MS)):
        times = [t for t, _ in chart(srv, days=days)["prices"]]
        offsets = [t % step for t in times[:-1]]
        assert all(1_000 <= offset <= 90_000 for offset in offsets), (days, offsets[:5])
        assert len(set(offsets)) > len(offsets) // 2, "offsets vary from point to point"
        slots = [t // step for t in times[:-1]]
        assert slots == list(range(slots[0], slots[0] + len(slots))), "one point per slot"


def test_daily_points_are_at_midnight_utc_as_in_coingeckos_example() -> None:
    srv = simulator(ManualClock(T0))
    times = [t for t, _ in chart(srv, days=365)["prices"]]
    assert len(times) == 366
    assert all(t % DAY_MS == 0 for t in times[:-1])
    assert times[0] == (int(T0.timestamp() * 1000) // DAY_MS - 364) * DAY_MS


@pytest.mark.parametrize(
    ("days", "daily", "step"),
    [(0.5, False, 5 * MINUTE_MS), (1, False, 5 * MINUTE_MS), (1.5, False, HOUR_MS)]
    + [(90, False, HOUR_MS), (91, False, DAY_MS), (2, True, DAY_MS), (float("inf"), False, DAY_MS)],
)
def test_granularity_follows_coingeckos_rule(days: float, daily: bool, step: int) -> None:
    assert chart_step_ms(days, daily) == step


def test_sample_times_fall_inside_the_window_whatever_its_edges() -> None:
    path = CoinPath.build(KNOWN_COINS[0], seed=3)
    for start in range(0, 6 * HOUR_MS, 7 * MINUTE_MS + 13):
        start += 1_780_000_000_000
        for step in (5 * MINUTE_MS, HOUR_MS):
            times = path.times(start, start + DAY_MS, step)
            assert times == sorted(set(times))
            assert start <= times[0] and times[-1] < start + DAY_MS
            assert DAY_MS // step - 1 <= len(times) <= DAY_MS // step + 1
