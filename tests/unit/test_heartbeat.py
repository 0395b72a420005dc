"""The worker heartbeat as the API and the worker's health check read it."""

from __future__ import annotations

import subprocess
import sys
import time

import fakeredis
import redis

from cryptostats.heartbeat import HEARTBEAT_MAX_AGE, read_heartbeat
from cryptostats.messages import Heartbeat, heartbeat_key
from cryptostats_dev.procs import RedisServer, free_port, merged_env
from worker_server.worker import TriggerWorker

KEY = heartbeat_key("crypto.update")


def test_fresh_stale_missing_and_garbage() -> None:
    client = fakeredis.FakeRedis()
    assert read_heartbeat(client, "crypto.update").problem is not None
    client.set(KEY, Heartbeat(time.time() - 2, 900).encode())
    found = read_heartbeat(client, "crypto.update")
    assert found.fresh and 2 <= (found.age_seconds or 0) < 3
    client.set(KEY, Heartbeat(time.time() - HEARTBEAT_MAX_AGE - 1, 900).encode())
    assert not read_heartbeat(client, "crypto.update").fresh
    client.set(KEY, "12345")
    assert "something else" in (read_heartbeat(client, "crypto.update").problem or "")


def test_redis_down_is_a_problem_not_an_exception() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    found = read_heartbeat(client, "crypto.update")
    assert not found.fresh and "unreachable" in (found.problem or "")


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
    assert done.returncode == 1 and "60 s old" in done.stderr
    client.close()
    real_redis_server.stop()
    assert healthcheck(real_redis_server.url).returncode == 1
