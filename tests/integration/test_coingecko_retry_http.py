"""Retries against the in-process simulator over HTTP, with a fake clock and sleep: no waiting.

Retry-After, x-ratelimit-reset and the time budget decide the waits; the test records them. The
simulator listens on a real socket, so these live here rather than in tests/unit (issue 9); the
decisions themselves are unit-tested in tests/unit/test_coingecko_retry.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api_server.coingecko import CoinGeckoClient, FetchBudget
from api_server.errors import UpstreamError
from cryptostats.config import Settings
from cryptostats_dev.simulator import SimulatorServer
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, seed=3) as server:
        yield server


class Waits:
    """A clock that moves only when the retry sleeps, and the sleeps it was asked for."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)


def client(sim: SimulatorServer, waits: Waits, interval: int = 3600) -> CoinGeckoClient:
    env = {"COINGECKO_API_URL": sim.url, "UPDATE_INTERVAL_SECONDS": str(interval)}
    return CoinGeckoClient(Settings.from_env(env), clock=waits.clock, sleep=waits.sleep)


def fetch(api: CoinGeckoClient) -> object:
    try:
        return api.fetch(Settings.from_env({}).coins)
    except UpstreamError as exc:
        return exc


def test_retry_after_is_honoured(sim: SimulatorServer) -> None:
    waits = Waits()
    sim.sim.set_fault("rate_limit", 1, retry_after=1)
    result = fetch(client(sim, waits))
    assert not isinstance(result, UpstreamError), result
    assert waits.sleeps == [1.0]
    assert [e["status"] for e in sim.sim.served] == [429, 200]


def test_ratelimit_reset_is_honoured_when_it_is_the_only_hint(sim: SimulatorServer) -> None:
    waits = Waits()
    sim.sim.set_fault("rate_limit_reset", 1)
    result = fetch(client(sim, waits))
    assert not isinstance(result, UpstreamError), result
    assert [e["status"] for e in sim.sim.served] == [429, 200]
    assert len(waits.sleeps) == 1 and waits.sleeps[0] < 3.0


def test_a_long_retry_after_is_not_waited_for(sim: SimulatorServer) -> None:
    waits = Waits()
    sim.sim.set_fault("rate_limit", 1, retry_after=119)
    result = fetch(client(sim, waits, interval=10))
    assert isinstance(result, UpstreamError) and result.kind == "rate_limited"
    assert "Retry-After: 119" in result.message
    assert waits.sleeps == [] and sim.sim.total_calls == 1


def test_server_errors_back_off_then_give_up_within_the_budget(sim: SimulatorServer) -> None:
    waits = Waits()
    sim.sim.set_fault("server_error", None)
    result = fetch(client(sim, waits, interval=20))  # budget 10 s
    assert isinstance(result, UpstreamError) and result.kind == "server_error", result
    budget = FetchBudget.for_interval(20)
    assert waits.sleeps and sum(waits.sleeps) <= budget.total - budget.attempt
    assert sim.sim.total_calls >= 2 and waits.sleeps == sorted(waits.sleeps)
