"""The worker's health check command against a real redis-server."""

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
    age = re.search(r"heartbeat is (\d+) s old", done.stderr)
    assert done.returncode == 1 and age is not None, done.stderr
    assert 60 <= int(age.group(1)) < 90  # the check itself may take a second or more to start
    client.close()
    real_redis_server.stop()
    assert healthcheck(real_redis_server.url).returncode == 1
