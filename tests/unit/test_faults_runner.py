"""The faults runner: failed and skipped rows, and the slow-client skip without nginx."""

from __future__ import annotations

from typing import Any

import pytest

from cryptostats_dev import proxy_faults
from cryptostats_dev.fault_common import Outcome, ScenarioFailed, ScenarioSkipped
from cryptostats_dev.faults import outcome_of, render_table
from cryptostats_dev.nginx import NginxMissing

LAB: Any = None
"""The scenarios below never touch their lab."""


def passes(lab: Any) -> Outcome:
    return Outcome("a fault", "held", 1.5, 0, 0)


def fails(lab: Any) -> Outcome:
    raise ScenarioFailed("reads stopped")


def cannot_run(lab: Any) -> Outcome:
    raise ScenarioSkipped("nginx is not installed (no nginx on PATH)")


def test_a_failure_is_a_failed_row_and_a_skip_is_a_row_that_names_why() -> None:
    assert outcome_of(passes, LAB) == (Outcome("a fault", "held", 1.5, 0, 0), False)
    assert outcome_of(fails, LAB) == (Outcome("fails", "FAILED: reads stopped"), True)
    skipped, failed = outcome_of(cannot_run, LAB)
    assert not failed
    assert skipped.outcome == "skipped: nginx is not installed (no nginx on PATH)"
    assert "| cannot_run | skipped: nginx is not installed" in render_table([skipped])


def test_the_slow_client_scenario_is_skipped_without_nginx(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise NginxMissing("nginx was not found on PATH")

    monkeypatch.setattr(proxy_faults, "nginx_binary", missing)
    with pytest.raises(ScenarioSkipped, match=r"nginx is not installed \(nginx was not found"):
        proxy_faults.slow_clients(LAB)
