from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.unit.conftest import Harness


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def running(harness: Harness) -> Harness:
    harness.services.start()
    assert harness.services.subscriber.subscribed.wait(5)
    yield harness
    harness.services.stop()
    assert not harness.services.subscriber.alive


def test_catch_up_fetch_on_start_when_store_is_empty(running: Harness) -> None:
    assert wait_until(lambda: running.source.calls == 1)
    # The fetch is counted when it starts; the stored data follows a moment later.
    assert wait_until(lambda: running.client.get("/api/stats?coin=bitcoin").status_code == 200)


def test_trigger_leads_to_a_fetch(running: Harness) -> None:
    assert wait_until(lambda: running.source.calls == 1)
    # The start-up fetch holds the claim for 5 s: drop it so the trigger may fetch.
    running.redis.delete(*running.redis.keys("cryptostats:*ingest-claim"))
    running.redis.publish("crypto.update", '{"trigger": "update"}')
    assert wait_until(lambda: running.source.calls == 2)
    assert wait_until(
        lambda: running.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 102.0
    )


def test_other_messages_are_ignored_with_a_warning(
    running: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert wait_until(lambda: running.source.calls == 1)
    running.redis.delete(*running.redis.keys("cryptostats:*ingest-claim"))
    running.redis.publish("crypto.update", "not json")
    running.redis.publish("crypto.update", '{"trigger": "delete"}')
    assert wait_until(lambda: caplog.text.count("ignored a message") == 2)
    assert running.source.calls == 1
    assert running.services.subscriber.alive


def test_an_ingest_announced_by_another_process_refreshes_the_view(
    make_harness: Callable[..., Harness],
) -> None:
    reader = make_harness()
    writer = make_harness()
    reader.services.start()
    try:
        assert wait_until(lambda: reader.source.calls == 1)
        assert reader.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 101.0
        writer.source.calls = 5
        writer.redis.delete(*writer.redis.keys("cryptostats:*ingest-claim"))
        writer.services.ingestor.ingest("trigger elsewhere")
        assert wait_until(
            lambda: reader.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 106.0,
            timeout=3,
        )
    finally:
        reader.services.stop()
