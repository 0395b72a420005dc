"""Process start-up with real processes: bad settings exit 2 with one line.

The worker's health check command has its own file, test_worker_healthcheck.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cryptostats.messages import heartbeat_key

pytestmark = pytest.mark.integration

KEY = heartbeat_key("crypto.update")


@pytest.mark.parametrize("module", ["api_server", "worker_server"])
def test_processes_exit_2_with_one_line_on_bad_config(module: str) -> None:
    env = {"UPDATE_INTERVAL_SECONDS": "never", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "UPDATE_INTERVAL_SECONDS" in lines[0] and "whole number" in lines[0]
