"""Retries against the simulator over real HTTP: Retry-After, x-ratelimit-reset, the time budget."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from api_server.coingecko import CoinGeckoClient, FetchBudget, ratelimit_reset_seconds
from api_server.errors import UpstreamError
from cryptostats.config import Settings
from cryptostats_dev.simulator import SimulatorServer

NOW = 1_753_455_000.0  # 2025-07-25 14:50:00 UTC


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, seed=3) as server:
        yield server


def client(sim: SimulatorServer, interval: int = 3600) -> CoinGeckoClient:
    env = {"COINGECKO_API_URL": sim.url, "UPDATE_INTERVAL_SECONDS": str(interval)}
    return CoinGeckoClient(Settings.from_env(env))


def timed_fetch(api: CoinGeckoClient) -> tuple[float, object]:
    started = time.monotonic()
    try:
        outcome: object = api.fetch(Settings.from_env({}).coins)
    except UpstreamError as exc:
        outcome = exc
    return time.monotonic() - started, outcome


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2025-07-25 14:54:00 +0000", 240.0),
        ("2025-07-25T14:50:30Z", 30.0),
        ("1753455045", 45.0),
        ("12", 12.0),
        ("2025-07-25 14:00:00 +0000", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_ratelimit_reset_forms(value: str | None, seconds: float | None) -> None:
    assert ratelimit_reset_seconds(value, now=NOW) == seconds


def test_budget_is_half_an_interval_at_most_60_s() -> None:
    assert FetchBudget.for_interval(900) == FetchBudget(total=60, connect=3.05, read=10)
    short = FetchBudget.for_interval(10)
    assert short.total == 5 and short.attempt <= short.total


def test_retry_after_is_honoured(sim: SimulatorServer) -> None:
    sim.sim.set_fault("rate_limit", 1, retry_after=1)
    took, result = timed_fetch(client(sim))
    assert not isinstance(result, UpstreamError), result
    assert 1.0 <= took < 3.0
    assert [e["status"] for e in sim.sim.served] == [429, 200]


def test_ratelimit_reset_is_honoured_when_it_is_the_only_hint(sim: SimulatorServer) -> None:
    sim.sim.set_fault("rate_limit_reset", 1)
    took, result = timed_fetch(client(sim))
    assert not isinstance(result, UpstreamError), result
    assert [e["status"] for e in sim.sim.served] == [429, 200]
    assert took < 3.0


def test_a_long_retry_after_is_not_waited_for(sim: SimulatorServer) -> None:
    sim.sim.set_fault("rate_limit", 1, retry_after=119)
    took, result = timed_fetch(client(sim, interval=10))
    assert isinstance(result, UpstreamError) and result.kind == "rate_limited"
    assert "Retry-After: 119" in result.message
    assert took < 1.0 and sim.sim.total_calls == 1


def test_a_slow_upstream_stays_within_the_budget(sim: SimulatorServer) -> None:
    sim.sim.set_fault("slow", None, delay=15)
    took, result = timed_fetch(client(sim, interval=10))
    assert isinstance(result, UpstreamError) and result.kind == "timeout", result
    assert took <= FetchBudget.for_interval(10).total + 0.5


def test_server_errors_back_off_then_give_up(sim: SimulatorServer) -> None:
    sim.sim.set_fault("server_error", None)
    took, result = timed_fetch(client(sim, interval=20))  # budget 10 s
    assert isinstance(result, UpstreamError) and result.kind == "server_error", result
    assert took <= 10.5
    assert sim.sim.total_calls >= 2
