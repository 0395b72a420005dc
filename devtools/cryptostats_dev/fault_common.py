"""What every fault scenario shares: its outcome row, its checks, the accounting of records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptostats_dev.lab import Api, SimulatorProcess
from cryptostats_dev.procs import wait_until

UPSTREAM = {
    "bitcoin": "bitcoin",
    "ethereum": "ethereum",
    "matic-network": "polygon-ecosystem-token",
}
"""The default tracked coins and their CoinGecko ids."""

REDIS_OUTAGE_SECONDS = 10.0
"""How long the Redis restart scenario keeps Redis down."""

RECOVERY_LIMIT = 5.0
"""Seconds after Redis returns within which a trigger must be ingested."""


class ScenarioFailed(AssertionError):
    """A scenario saw behaviour the service promises not to have."""


class ScenarioSkipped(Exception):
    """A scenario cannot run on this machine (a tool is missing); the message names why."""


F = TypeVar("F", bound=Callable[..., Any])


def covered_by(test: str) -> Callable[[F], F]:
    """Mark a scenario that `test` (a test file) already runs in `make test`.

    `make faults` runs it like any other; `tests/integration/test_faults.py` skips it, so that
    `make test` does not run it twice.
    """

    def mark(scenario: F) -> F:
        scenario.covered_by = test  # type: ignore[attr-defined]
        return scenario

    return mark


def covered_elsewhere(scenario: Callable[..., Any]) -> str | None:
    """Return the test file that already runs scenario in `make test`, if any."""
    test = getattr(scenario, "covered_by", None)
    return test if isinstance(test, str) else None


def expect(condition: object, message: str) -> None:
    """Raise ScenarioFailed with message unless condition holds."""
    if not condition:
        raise ScenarioFailed(message)


@dataclass
class Outcome:
    """One row of the fault table."""

    scenario: str
    outcome: str
    recover_seconds: float | None = None
    lost: int | None = None
    duplicated: int | None = None
    after_next_trigger: bool = False
    """Whether recovery waited for the next trigger (recover_seconds counts from that trigger)."""


# --- accounting -------------------------------------------------------------------------------


def valid_served(sim: SimulatorProcess) -> dict[str, set[str]]:
    """Distinct valid observations (by last_updated) the simulator served, per public coin."""
    by_coin: dict[str, set[str]] = {coin: set() for coin in UPSTREAM}
    for entry in sim.markets():
        if entry["status"] != 200:
            continue
        for coin, upstream in UPSTREAM.items():
            row = entry["coins"].get(upstream)
            if row and row["current_price"] is not None and row["market_cap"] is not None:
                if row["price_change_percentage_24h"] is not None:
                    by_coin[coin].add(row["last_updated"])
    return by_coin


def account(sim: SimulatorProcess, *apis: Api) -> tuple[int, int]:
    """Return (lost, duplicated) records: valid served observations vs records stored.

    Embedded-store API processes on one Redis each store every record (the ingest announcement
    carries them), so the fullest process is counted.
    """
    served = valid_served(sim)
    stored = {coin: 0 for coin in UPSTREAM}
    for api in apis:
        for coin, count in api.samples().items():
            stored[coin] = max(stored[coin], count)
    lost = sum(max(0, len(served[c]) - stored[c]) for c in UPSTREAM)
    duplicated = sum(max(0, stored[c] - len(served[c])) for c in UPSTREAM)
    return lost, duplicated


def wait_for_data(api: Api, timeout: float = 15) -> None:
    wait_until(
        lambda: all(api.get(f"/api/stats?coin={c}").status_code == 200 for c in UPSTREAM),
        timeout,
        "data for every coin",
        error=ScenarioFailed,
    )


def wait_for_ingest(api: Api, after: str | None, timeout: float = 20) -> dict[str, Any]:
    """Wait for an ingest report newer than `after` (a startedAt) and return it."""

    def newer() -> dict[str, Any] | None:
        report = api.last_ingest()
        started = report.get("startedAt")
        return report if started and started != after else None

    found: dict[str, Any] = wait_until(newer, timeout, "a new ingest report", error=ScenarioFailed)
    return found


def stats_of_last_good_fetch(sim: SimulatorProcess, coin: str) -> dict[str, Any]:
    """The values the simulator last served for coin with a 200 and valid fields."""
    for entry in reversed(sim.markets()):
        row = entry["coins"].get(UPSTREAM[coin]) if entry["status"] == 200 else None
        if row and row["current_price"] is not None:
            return {
                "price": row["current_price"],
                "marketCap": row["market_cap"],
                "24hChange": row["price_change_percentage_24h"],
            }
    raise ScenarioFailed(f"the simulator never served {coin}")
