"""Fault scenarios against real processes (the same ones `make faults` tabulates).

A scenario another integration test already runs (`covered_by`: the write path's crash and nested
messages in test_write_path.py, the slow clients through nginx in test_proxy.py) is skipped here
with that test's name, so `make test` runs each once; `make faults` runs them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.fault_common import ScenarioSkipped, covered_elsewhere
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


def scenario_param(scenario: Scenario) -> object:
    covered = covered_elsewhere(scenario)
    marks = [pytest.mark.skip(reason=f"run by {covered}")] if covered else []
    return pytest.param(scenario, id=scenario.__name__, marks=marks)


@pytest.mark.parametrize(
    "scenario", [scenario_param(s) for s in SCENARIOS if s.__name__ != "hostile_input"]
)
def test_fault_scenario(lab: Lab, scenario: Scenario) -> None:
    try:
        outcome = scenario(lab)
    except ScenarioSkipped as exc:
        pytest.skip(str(exc))
    print("\n" + render_table([outcome]))


def test_a_scenario_skipped_here_is_run_by_the_test_it_names() -> None:
    root = Path(__file__).resolve().parents[2]
    for scenario in SCENARIOS:
        covered = covered_elsewhere(scenario)
        if covered is not None:
            text = (root / covered).read_text(encoding="utf-8")
            assert f"from {scenario.__module__} import" in text, f"{covered} runs no {scenario}"


@pytest.fixture(scope="module")
def served_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One gunicorn-served API for the whole table of hostile requests."""
    with RedisServer() as server, lab_for(server, tmp_path_factory.mktemp("logs")) as running:
        yield running.api(None, COINGECKO_API_URL="http://127.0.0.1:9")


@pytest.mark.parametrize("bad", HOSTILE_REQUESTS, ids=lambda b: b.name)
def test_hostile_request_gets_a_json_4xx(served_api: Api, bad: BadRequest) -> None:
    check_hostile(served_api, bad)
    assert served_api.get("/health").status_code == 200
