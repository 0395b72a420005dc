"""The worker heartbeat as the API and the worker's health check read it."""

from __future__ import annotations

import time

import fakeredis
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cryptostats.heartbeat import HEARTBEAT_MAX_AGE, read_heartbeat
from cryptostats.messages import Heartbeat, heartbeat_key
from cryptostats_dev.procs import free_port

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
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    found = read_heartbeat(client, "crypto.update")
    assert not found.fresh and "unreachable" in (found.problem or "")
