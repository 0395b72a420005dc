"""Process start-up with real processes: bad settings, the worker's health check command."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import redis

from cryptostats.messages import Heartbeat, heartbeat_key
from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.procs import merged_env
from worker_server.worker import TriggerWorker

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


def healthcheck(redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker_server.healthcheck"],
        env=merged_env({"REDIS_URL": redis_url, "REDIS_CHANNEL": None}),
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_health_check_command_follows_the_heartbeat(real_redis_server: RedisServer) -> None:
    assert healthcheck(real_redis_server.url).returncode == 1
    client = redis.Redis.from_url(real_redis_server.url)
    TriggerWorker(
        redis_client=client, channel="crypto.update", interval_seconds=900
    ).write_heartbeat()
    done = healthcheck(real_redis_server.url)
    assert done.returncode == 0 and "healthy" in done.stdout
    client.set(KEY, Heartbeat(time.time() - 60, 900).encode())
    done = healthcheck(real_redis_server.url)
    assert done.returncode == 1 and re.search(
        r"\b6[0-2] s old", done.stderr
    )  # 60 s (or a slow run)
    client.close()
    real_redis_server.stop()
    assert healthcheck(real_redis_server.url).returncode == 1
