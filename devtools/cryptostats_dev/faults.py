"""Fault scenarios against real processes: redis-server, the simulator, the API, the worker.

Each scenario starts what it needs in a `Lab`, breaks something, checks what the service stored and
reported, and returns one `Outcome` row; a failed check raises `ScenarioFailed`, a missing tool
`ScenarioSkipped` (a row that names why, not a failure). The same functions back
`tests/integration/test_faults.py` and `make faults` (`python -m cryptostats_dev.faults`), which
prints the table kept in docs/RELIABILITY.md; a scenario another integration test already runs
(`covered_by`) runs in `make faults` only. This module is the runner and the table; the scenarios
live in fault_broker.py, fault_write_path.py, fault_upstream.py, fault_hostile.py and
proxy_faults.py, their shared checks in fault_common.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.fault_alerts import (
    thousand_alerts_crossing,
    two_apis_one_delivery,
    webhook_receiver_down_then_back,
    webhook_receiver_slow,
)
from cryptostats_dev.fault_broker import (
    api_down_while_worker_ticks,
    redis_restart,
    trigger_burst_two_apis,
    triggers_lost_during_outage,
)
from cryptostats_dev.fault_common import Outcome, ScenarioFailed, ScenarioSkipped
from cryptostats_dev.fault_hostile import hostile_input
from cryptostats_dev.fault_upstream import (
    store_unreachable,
    upstream_error_200,
    upstream_html,
    upstream_missing_coins,
    upstream_null_fields,
    upstream_rate_limit,
    upstream_rate_limit_long,
    upstream_rate_limit_reset,
    upstream_server_error,
    upstream_slow,
)
from cryptostats_dev.fault_write_path import crash_after_ingest, nested_messages
from cryptostats_dev.lab import Lab, lab_for
from cryptostats_dev.proxy_faults import slow_clients

Scenario = Callable[[Lab], Outcome]

SCENARIOS: list[Scenario] = [
    redis_restart,
    triggers_lost_during_outage,
    api_down_while_worker_ticks,
    trigger_burst_two_apis,
    crash_after_ingest,
    nested_messages,
    upstream_rate_limit,
    upstream_rate_limit_long,
    upstream_rate_limit_reset,
    upstream_server_error,
    upstream_slow,
    upstream_html,
    upstream_error_200,
    upstream_missing_coins,
    upstream_null_fields,
    store_unreachable,
    webhook_receiver_down_then_back,
    webhook_receiver_slow,
    two_apis_one_delivery,
    thousand_alerts_crossing,
    hostile_input,
    slow_clients,
]
"""Every scenario, in the order of the table."""


def _cell(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f} s" if isinstance(value, float) else str(value)


def render_table(outcomes: list[Outcome]) -> str:
    """Return the outcomes as a Markdown table."""

    def recovery(out: Outcome) -> str:
        cell = _cell(out.recover_seconds)
        return f"next trigger + {cell}" if out.after_next_trigger else cell

    rows = [
        "| scenario | outcome | time to recover | records lost | records duplicated |",
        "|---|---|---|---|---|",
    ]
    for out in outcomes:
        cells = [out.scenario, out.outcome, recovery(out)]
        cells += [_cell(out.lost), _cell(out.duplicated)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def outcome_of(scenario: Scenario, lab: Lab) -> tuple[Outcome, bool]:
    """Run one scenario; return its row and whether it failed (a skip is a row, not a failure)."""
    try:
        return scenario(lab), False
    except ScenarioFailed as exc:
        return Outcome(scenario.__name__, f"FAILED: {exc}"), True
    except ScenarioSkipped as exc:
        return Outcome(scenario.__name__, f"skipped: {exc}"), False


def run_all(logs: Path, names: list[str] | None = None) -> tuple[list[Outcome], int]:
    """Run the scenarios (all, or those named), each with its own redis-server."""
    outcomes, failures = [], 0
    for scenario in SCENARIOS:
        if names and scenario.__name__ not in names:
            continue
        started = time.monotonic()
        with RedisServer() as server, lab_for(server, logs / scenario.__name__) as lab:
            outcome, failed = outcome_of(scenario, lab)
        failures += failed
        print(f"{scenario.__name__}: {outcome.outcome} ({time.monotonic() - started:.1f} s)",
              file=sys.stderr, flush=True)  # fmt: skip
        outcomes.append(outcome)
    return outcomes, failures


def main(argv: list[str] | None = None) -> int:
    """Run the fault scenarios against real processes and print the table; exit 1 on a failure."""
    parser = argparse.ArgumentParser(prog="faults", description=main.__doc__)
    parser.add_argument("scenario", nargs="*", help="run only these (function names)")
    parser.add_argument("--logs", type=Path, help="keep process logs here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cryptostats-faults-") as tmp:
        outcomes, failures = run_all(args.logs or Path(tmp), args.scenario)
    print(render_table(outcomes))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
