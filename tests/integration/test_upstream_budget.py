"""A slow upstream against the real clock: a read timeout cannot be faked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api_server.coingecko import CoinGeckoClient, FetchBudget
from api_server.errors import UpstreamError
from cryptostats.config import Settings
from cryptostats_dev.simulator import SimulatorServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, seed=3) as server:
        yield server


def test_a_slow_upstream_stays_within_the_budget(sim: SimulatorServer) -> None:
    sim.sim.set_fault("slow", None, delay=15)
    env = {"COINGECKO_API_URL": sim.url, "UPDATE_INTERVAL_SECONDS": "10"}
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        CoinGeckoClient(Settings.from_env(env)).fetch(Settings.from_env({}).coins)
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started <= FetchBudget.for_interval(10).total + 0.5
