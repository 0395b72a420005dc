"""The market chart client against the in-process simulator over HTTP: hourly points, unknown ids,
the key header beyond 365 days, and a 429 retried like the trigger path.

The simulator listens on a real socket, so these live here rather than in tests/unit (issue 9);
parsing and per-coin errors without sockets stay in tests/unit/test_market_chart.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from api_server.errors import UpstreamError
from api_server.market_chart import MarketChartClient
from cryptostats.config import Settings
from cryptostats_dev.simulator import SimulatorServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, seed=5) as server:
        yield server


def sim_client(sim: SimulatorServer, **env: str) -> MarketChartClient:
    return MarketChartClient(Settings.from_env({"COINGECKO_API_URL": sim.url, **env}))


def test_thirty_days_from_the_simulator_are_hourly_and_end_now(sim: SimulatorServer) -> None:
    result = sim_client(sim).fetch("bitcoin", 30)
    times = [p.observed_at for p in result.points]
    assert 700 <= len(times) <= 722
    gaps = [b - a for a, b in zip(times, times[1:-1], strict=False)]
    # About hourly, like CoinGecko's (its points are not exactly on the hour).
    assert all(timedelta(minutes=50) <= gap <= timedelta(minutes=70) for gap in gaps)
    assert datetime.now(UTC) - times[-1] < timedelta(minutes=1)
    assert sim.sim.calls == {"/coins/bitcoin/market_chart": 1}


def test_unknown_id_from_the_simulator(sim: SimulatorServer) -> None:
    with pytest.raises(UpstreamError) as caught:
        sim_client(sim).fetch("not-a-coin", 30)
    assert caught.value.kind == "unknown_coin"


def test_a_pro_key_may_ask_beyond_365_days(sim: SimulatorServer) -> None:
    client = sim_client(sim, COINGECKO_API_KEY="secret-key-1", COINGECKO_API_PLAN="pro")
    chart = client.fetch("bitcoin", 400)
    assert 395 <= len(chart.points) <= 402  # daily beyond 90 days
    assert sim.sim.last_key_header == "x-cg-pro-api-key"


def test_beyond_365_days_without_a_paid_key_the_simulator_answers_10012(
    sim: SimulatorServer,
) -> None:
    client = sim_client(sim, COINGECKO_API_KEY="demo-key-1", COINGECKO_API_PLAN="demo")
    client.plan = "pro"  # let the request through the client's own check
    with pytest.raises(UpstreamError) as caught:
        client.fetch("bitcoin", 400)
    assert caught.value.kind == "history_limit"


def test_a_429_is_retried_like_the_trigger_path(sim: SimulatorServer) -> None:
    sim.sim.set_fault("rate_limit", 1, retry_after=0)
    result = sim_client(sim).fetch("ethereum", 1)
    assert len(result.points) >= 280
    assert [e["status"] for e in sim.sim.served] == [429, 200]


def test_a_429_that_asks_too_long_a_wait_is_reported(sim: SimulatorServer) -> None:
    sim.sim.set_fault("rate_limit", 1, retry_after=119)
    with pytest.raises(UpstreamError) as caught:
        sim_client(sim).fetch("ethereum", 1)
    assert caught.value.kind in {"rate_limited", "retries_exhausted"}
    assert sim.sim.total_calls == 1
