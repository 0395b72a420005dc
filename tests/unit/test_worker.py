"""The trigger loop, run in-process on a fake clock: no test waits for real time to pass."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import fakeredis
import pytest
import redis
import time_machine

from cryptostats.messages import Heartbeat, heartbeat_key
from worker_server.worker import HEARTBEAT_SECONDS, TriggerWorker

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeTime:
    """A frozen wall clock (datetime.now, time.time) that only the worker's waits move."""

    def __init__(self, traveller: time_machine.Traveller) -> None:
        self.traveller = traveller
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.traveller.shift(seconds)
        return False

    @property
    def elapsed(self) -> float:
        return sum(self.waits)


@pytest.fixture
def fake_time() -> Iterator[FakeTime]:
    with time_machine.travel(START, tick=False) as traveller:
        yield FakeTime(traveller)


def make_worker(
    client: redis.Redis, interval: int = 1, fake_time: FakeTime | None = None
) -> TriggerWorker:
    return TriggerWorker(
        redis_client=client,
        channel="crypto.update",
        interval_seconds=interval,
        wait=fake_time.wait if fake_time else None,
    )


def test_publishes_once_at_start_and_then_every_interval(fake_time: FakeTime) -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    listener = fakeredis.FakeRedis(server=server).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("crypto.update")
    worker = make_worker(client, interval=60, fake_time=fake_time)
    worker.run(max_ticks=3)
    assert worker.published == 3
    assert fake_time.elapsed == 120  # start + two intervals, on the fake clock
    assert all(0 <= pause <= 1.0 for pause in fake_time.waits)  # a stop is seen within 1 s
    # Already delivered in memory; the first call only consumes the subscribe confirmation.
    received = [listener.get_message() for _ in range(10)]
    messages = [json.loads(msg["data"]) for msg in received if msg is not None]
    assert messages == [{"trigger": "update"}] * 3
    beat = Heartbeat.parse(client.get(heartbeat_key("crypto.update")))
    assert beat.interval_seconds == 60
    assert beat.at == START.timestamp() + 120 - 120 % HEARTBEAT_SECONDS
    assert beat.next_trigger_at == START.timestamp() + 180


def test_writes_a_heartbeat_every_few_seconds(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = make_worker(fakeredis.FakeRedis(), interval=60, fake_time=fake_time)
    beats: list[float] = []
    original = worker.write_heartbeat

    def recording() -> None:
        beats.append(time.time() - START.timestamp())
        original()

    monkeypatch.setattr(worker, "write_heartbeat", recording)
    worker.run(max_ticks=2)
    assert beats == [float(n) for n in range(0, 61, HEARTBEAT_SECONDS)]


def test_counts_receivers_and_warns_when_none(caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(fakeredis.FakeRedis())
    assert worker.publish_trigger() == 0
    assert "no subscriber received it" in caplog.text


def test_failed_publish_is_logged_and_the_loop_goes_on(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    worker = make_worker(fakeredis.FakeRedis(server=server), fake_time=fake_time)
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


def test_a_failing_job_does_not_kill_the_loop(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(fakeredis.FakeRedis(), fake_time=fake_time)
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
    assert "scheduled job failed; the loop goes on" in caplog.text
