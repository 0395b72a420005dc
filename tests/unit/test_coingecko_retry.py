"""The retry decisions as pure functions: Retry-After and x-ratelimit-reset forms, budget, plans.

The same retries against the simulator over real HTTP:
tests/integration/test_coingecko_retry_http.py.
"""

from __future__ import annotations

import pytest

from api_server.coingecko import (
    BudgetRetry,
    FetchBudget,
    ratelimit_reset_seconds,
)

NOW = 1_753_455_000.0  # 2025-07-25 14:50:00 UTC


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


def retry(budget: FetchBudget) -> BudgetRetry:
    return BudgetRetry(total=3, backoff_factor=1.0, backoff_max=20.0, budget=budget)


def test_plan_wait_is_a_pure_decision() -> None:
    policy = retry(FetchBudget.for_interval(900))
    assert policy.plan_wait(3.0, now=0.0, deadline=100.0) == (3.0, None)
    wait, why = policy.plan_wait(119.0, now=0.0, deadline=100.0)
    assert wait == 119.0 and why is not None and "more than 20 s" in why
    wait, why = policy.plan_wait(10.0, now=95.0, deadline=100.0)
    assert why is not None and "does not fit" in why
    counted = policy.increment(error=ConnectionError("x")).increment(error=ConnectionError("y"))
    assert counted.plan_wait(None, now=0.0, deadline=100.0) == (2.0, None)  # backoff 2, 4 ...
