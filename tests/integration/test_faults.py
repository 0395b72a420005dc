"""Fault scenarios against real processes (the same ones `make faults` tabulates)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.fault_hostile import HOSTILE_REQUESTS, BadRequest, check_hostile
from cryptostats_dev.faults import SCENARIOS, Scenario, render_table
from cryptostats_dev.lab import Api, Lab, lab_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture
def lab(real_redis_server: RedisServer, tmp_logs: Path) -> Iterator[Lab]:
    with lab_for(real_redis_server, tmp_logs) as running:
        yield running
    for process in running.processes:
        assert not process.alive, f"{process.name} survived the test"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.__name__ != "hostile_input"],
                         ids=lambda s: s.__name__)  # fmt: skip
def test_fault_scenario(lab: Lab, scenario: Scenario) -> None:
    outcome = scenario(lab)
    print("\n" + render_table([outcome]))


@pytest.fixture(scope="module")
def served_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One gunicorn-served API for the whole table of hostile requests."""
    with RedisServer() as server, lab_for(server, tmp_path_factory.mktemp("logs")) as running:
        yield running.api(None, COINGECKO_API_URL="http://127.0.0.1:9")


@pytest.mark.parametrize("bad", HOSTILE_REQUESTS, ids=lambda b: b.name)
def test_hostile_request_gets_a_json_4xx(served_api: Api, bad: BadRequest) -> None:
    check_hostile(served_api, bad)
    assert served_api.get("/health").status_code == 200
