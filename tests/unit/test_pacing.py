"""The call spacer: consecutive calls at least 60/rate seconds apart, with a fake clock."""

from __future__ import annotations

import pytest

from api_server.pacing import (
    DEMO_CALLS_PER_MINUTE,
    KEYLESS_CALLS_PER_MINUTE,
    PRO_CALLS_PER_MINUTE,
    CallSpacer,
    calls_per_minute,
)
from cryptostats.config import Settings


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_first_call_goes_at_once_then_calls_are_spaced() -> None:
    fake = FakeTime()
    spacer = CallSpacer(30, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(4):
        spacer.wait()
        starts.append(fake.now)
    assert fake.sleeps == [2.0, 2.0, 2.0]
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [2.0, 2.0, 2.0]
    assert spacer.waited == 6.0


def test_time_spent_in_the_call_counts_towards_the_spacing() -> None:
    fake = FakeTime()
    spacer = CallSpacer(60, clock=fake.clock, sleep=fake.sleep)
    spacer.wait()
    fake.now += 0.75  # the call itself took 0.75 s
    assert spacer.wait() == pytest.approx(0.25)
    fake.now += 5  # a slow call: no wait at all
    assert spacer.wait() == 0.0
    assert fake.sleeps == [pytest.approx(0.25)]


def test_rate_follows_the_plan_and_the_key() -> None:
    assert calls_per_minute(Settings.from_env({})) == KEYLESS_CALLS_PER_MINUTE
    demo = Settings.from_env({"COINGECKO_API_KEY": "k" * 10})
    assert calls_per_minute(demo) == DEMO_CALLS_PER_MINUTE
    pro = Settings.from_env({"COINGECKO_API_KEY": "k" * 10, "COINGECKO_API_PLAN": "pro"})
    assert calls_per_minute(pro) == PRO_CALLS_PER_MINUTE


def test_backfill_keeps_under_the_keyless_limit_over_a_minute() -> None:
    fake = FakeTime()
    spacer = CallSpacer.for_backfill(Settings.from_env({}), clock=fake.clock, sleep=fake.sleep)
    started = fake.now
    calls = 0
    while True:
        spacer.wait()
        if fake.now - started >= 60:
            break
        calls += 1
    assert 1 <= calls < KEYLESS_CALLS_PER_MINUTE


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CallSpacer(0)
