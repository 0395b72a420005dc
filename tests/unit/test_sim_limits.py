"""The simulator's optional per-minute rate limit: off by default, a 429 as CoinGecko sends it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cryptostats_dev.sim_faults import RATE_LIMIT_BODY
from cryptostats_dev.sim_limits import MinuteLimit
from cryptostats_dev.sim_state import SimulatedCoinGecko
from cryptostats_dev.simulator import _parse_args
from tests.unit.sim_client import T0, Answer, ManualClock, SimClient


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def server(clock: ManualClock) -> SimClient:
    return SimClient(SimulatedCoinGecko(seed=1, extra_coins=5, now_ms=clock))


def markets(srv: SimClient) -> Answer:
    return srv.get("/coins/markets", vs_currency="usd", ids="bitcoin")


def limit(srv: SimClient, **payload: Any) -> Answer:
    return srv.post("/_sim/rate_limit", json=payload)


def test_there_is_no_limit_by_default(server: SimClient) -> None:
    assert server.get("/_sim/rate_limit").json() == {
        "rate_limit": {"per_minute": None, "headers": "reset"}
    }
    assert {markets(server).status_code for _ in range(200)} == {200}


def test_calls_beyond_the_limit_get_coingeckos_429_until_the_minute_ends(
    server: SimClient, clock: ManualClock
) -> None:
    assert limit(server, per_minute=3).json() == {
        "rate_limit": {"per_minute": 3, "headers": "reset"}
    }
    assert [markets(server).status_code for _ in range(3)] == [200] * 3
    refused = server.get("/coins/bitcoin/market_chart", vs_currency="usd", days=1)
    assert refused.status_code == 429
    assert refused.json() == RATE_LIMIT_BODY
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == "2026-03-10 12:01:00 +0000"
    assert "Retry-After" not in refused.headers
    clock.advance(49.7)
    assert markets(server).status_code == 429
    clock.advance(0.1)  # 12:01:00.05, a new window
    assert [markets(server).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_refused_calls_are_counted_and_logged_but_use_up_no_fault(server: SimClient) -> None:
    limit(server, per_minute=1)
    server.sim.set_fault("server_error", 1)
    assert [markets(server).status_code for _ in range(3)] == [500, 429, 429]
    assert server.sim.calls == {"/coins/markets": 3}
    assert [(e["status"], e["fault"]) for e in server.sim.served] == [
        (500, "server_error"),
        (429, "rate_limit_per_minute"),
        (429, "rate_limit_per_minute"),
    ]


def test_ping_is_not_limited(server: SimClient) -> None:
    limit(server, per_minute=1)
    assert [server.get("/ping").status_code for _ in range(3)] == [200] * 3
    assert markets(server).status_code == 200


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("retry_after", {"Retry-After"}),
        ("both", {"Retry-After", "x-ratelimit-reset", "x-ratelimit-limit"}),
    ],
)
def test_a_429_may_say_retry_after_instead(
    server: SimClient, clock: ManualClock, style: str, expected: set[str]
) -> None:
    limit(server, per_minute=1, headers=style)
    markets(server)
    clock.advance(30)  # 12:00:40.25: the window ends in 19.75 s
    refused = markets(server)
    assert refused.status_code == 429
    names = {"Retry-After", "x-ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining"}
    assert {name for name in names if name in refused.headers} >= expected
    assert refused.headers["Retry-After"] == "20"
    if style == "retry_after":
        assert "x-ratelimit-reset" not in refused.headers


def test_the_limit_can_be_switched_off_and_survives_a_reset(server: SimClient) -> None:
    limit(server, per_minute=1)
    markets(server)
    server.post("/_sim/reset").raise_for_status()
    assert markets(server).status_code == 200, "reset forgets the calls counted"
    assert markets(server).status_code == 429, "but keeps the limit"
    assert server.delete("/_sim/rate_limit").json()["rate_limit"]["per_minute"] is None
    assert markets(server).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [{"per_minute": 0}, {"per_minute": "5"}, {"per_minute": 2.5}, {"headers": "loud"}, []],
)
def test_bad_limits_are_a_json_400(server: SimClient, payload: Any) -> None:
    response = server.post("/_sim/rate_limit", json=payload)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert server.sim.rate_limit.per_minute is None


def test_the_command_line_sets_the_limit() -> None:
    args = _parse_args(["--rate-limit", "30", "--rate-limit-headers", "both"])
    assert (args.rate_limit, args.rate_limit_headers) == (30, "both")
    assert _parse_args([]).rate_limit == 0
    with pytest.raises(SystemExit):
        _parse_args(["--rate-limit", "-1"])


def test_the_reset_header_is_a_whole_minute() -> None:
    throttled = MinuteLimit(per_minute=1)
    now = int(T0.timestamp() * 1000)
    assert throttled.admit(now) is None
    refusal = throttled.admit(now + 5)
    assert refusal is not None
    reset = datetime.fromtimestamp(refusal.reset_ms / 1000)
    assert (reset.second, reset.microsecond) == (0, 0)
    assert 0 < refusal.reset_ms - now <= 60_000
