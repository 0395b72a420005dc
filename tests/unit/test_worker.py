from __future__ import annotations

import json
import threading
import time

import fakeredis
import pytest
import redis

from cryptostats.messages import Heartbeat, heartbeat_key
from worker_server.worker import TriggerWorker


def make_worker(client: redis.Redis, interval: int = 1) -> TriggerWorker:
    return TriggerWorker(redis_client=client, channel="crypto.update", interval_seconds=interval)


def test_publishes_once_at_start_and_then_every_interval() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    listener = fakeredis.FakeRedis(server=server).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("crypto.update")
    worker = make_worker(client)
    started = time.monotonic()
    worker.run(max_ticks=3)
    took = time.monotonic() - started
    assert worker.published == 3
    assert 1.5 < took < 5  # start + two one-second intervals
    messages = []
    deadline = time.monotonic() + 2
    while len(messages) < 3 and time.monotonic() < deadline:
        msg = listener.get_message(timeout=0.1)
        if msg is not None:
            messages.append(json.loads(msg["data"]))
    assert messages == [{"trigger": "update"}] * 3
    beat = Heartbeat.parse(client.get(heartbeat_key("crypto.update")))
    assert beat.at == pytest.approx(time.time(), abs=10)
    assert beat.interval_seconds == 1


def test_counts_receivers_and_warns_when_none(caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(fakeredis.FakeRedis())
    assert worker.publish_trigger() == 0
    assert "no subscriber received it" in caplog.text


def test_failed_publish_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    worker = make_worker(fakeredis.FakeRedis(server=server))
    worker.run(max_ticks=2)
    assert worker.failed == 2 and worker.published == 0
    assert "publish to 'crypto.update' failed" in caplog.text


def test_stop_request_ends_the_loop_within_two_seconds() -> None:
    worker = make_worker(fakeredis.FakeRedis(), interval=3600)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.started.wait(5)
    asked = time.monotonic()
    worker.request_stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 2


def test_a_failing_job_does_not_kill_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = make_worker(fakeredis.FakeRedis())
    calls = {"n": 0}
    original = worker.publish_trigger

    def flaky() -> int | None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("unexpected")
        return original()

    monkeypatch.setattr(worker, "publish_trigger", flaky)
    worker.run(max_ticks=3)
    assert calls["n"] == 3
