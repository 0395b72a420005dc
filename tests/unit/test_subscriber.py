"""The subscriber, driven in-process poll by poll (poll_seconds=0): nothing here waits."""

from __future__ import annotations

import logging
from collections.abc import Callable

import mongomock
import pytest

from api_server.store import Store
from api_server.subscriber import Subscriber
from tests.unit.conftest import Harness
from tests.unit.fakes import FakeClock

TRIGGER = '{"trigger": "update"}'


def subscriber(h: Harness, clock: FakeClock | None = None) -> Subscriber:
    """The harness's subscriber, with a fake clock when one is given."""
    sub = h.state.subscriber
    if clock is not None:
        sub.clock = clock
    return sub


def test_catch_up_fetch_on_start_when_store_is_empty(harness: Harness) -> None:
    subscriber(harness).run(max_polls=1)
    assert harness.source.calls == 1
    assert harness.client.get("/api/stats?coin=bitcoin").status_code == 200


def test_no_catch_up_fetch_when_data_is_fresh(harness: Harness) -> None:
    harness.ingest("before")
    subscriber(harness).run(max_polls=1)
    assert harness.source.calls == 1


def test_trigger_leads_to_a_fetch(harness: Harness) -> None:
    sub = subscriber(harness)
    sub.run(max_polls=1)  # subscribes and catches up
    harness.redis.publish("crypto.update", TRIGGER)
    sub.run(max_polls=1)
    assert harness.source.calls == 2 and sub.triggers == 1
    harness.state.read_model.refresh()
    assert harness.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 102.0


def test_other_messages_are_ignored_with_a_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscriber(harness)
    sub.run(max_polls=1)
    harness.redis.publish("crypto.update", "not json")
    harness.redis.publish("crypto.update", '{"trigger": "delete"}')
    sub.run(max_polls=2)
    assert caplog.text.count("ignored a message") == 2
    assert harness.source.calls == 1 and sub.triggers == 0


def test_hostile_messages_never_delay_the_next_trigger(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscriber(harness)
    sub.run(max_polls=1)
    nested = "[" * 1000 + "]" * 1000  # 2 KB of nesting: over the size cap
    deep = "[" * 500 + "]" * 500  # under the cap
    for _ in range(15):
        harness.redis.publish("crypto.update", nested)
    harness.redis.publish("crypto.update", deep)
    harness.redis.publish("crypto.update", "x" * 1_000_000)
    harness.redis.publish("crypto.update", TRIGGER)
    caplog.set_level(logging.WARNING)
    sub.run(max_polls=18)  # one poll per message: none is retried or waited for
    assert sub.triggers == 1 and harness.source.calls == 2
    assert caplog.text.count("ignored a message") == 17
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_skipped_catch_up_is_retried_once_the_claim_ends(harness: Harness) -> None:
    clock = FakeClock()
    sub = subscriber(harness, clock)
    harness.claim.held, harness.claim.wait = True, 2.0  # a dead process's claim, 2 s left
    sub.run(max_polls=1)
    assert harness.source.calls == 0 and sub.catch_up_at == clock.now + 2.0
    harness.claim.held = False
    clock.advance(1.9)
    sub.run(max_polls=1)
    assert harness.source.calls == 0  # not before the claim ends
    clock.advance(0.1)
    sub.run(max_polls=1)
    assert harness.source.calls == 1 and sub.catch_up_at is None
    assert harness.client.get("/api/stats?coin=bitcoin").status_code == 200


def test_a_catch_up_still_held_is_retried_again(harness: Harness) -> None:
    clock = FakeClock()
    sub = subscriber(harness, clock)
    harness.claim.held, harness.claim.wait = True, 0.5
    sub.run(max_polls=1)
    clock.advance(0.5)
    sub.run(max_polls=1)
    assert harness.source.calls == 0 and sub.catch_up_at == clock.now + 0.5
    harness.claim.held = False
    clock.advance(0.5)
    sub.run(max_polls=1)
    assert harness.source.calls == 1


def test_embedded_processes_each_store_every_price(
    make_harness: Callable[..., Harness],
) -> None:
    stores = [Store(mongomock.MongoClient()[f"p{i}"], embedded=True) for i in range(2)]
    fetcher, replica = (make_harness(store=store) for store in stores)
    replica.claim.held = True  # the fetcher holds the claim: the replica never fetches
    replica_sub = subscriber(replica)
    replica_sub.run(max_polls=1)  # subscribes; its catch-up is skipped
    fetcher.state.ingestor.ingest("trigger")
    replica_sub.run(max_polls=1)  # receives the announcement with the batch
    assert replica.source.calls == 0
    assert replica.store.count_observations("bitcoin") == 1
    replica.state.read_model.refresh()
    assert replica.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 101.0


def test_start_and_stop_run_the_background_threads(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(poll_seconds=0.01)
    h.state.start()
    try:
        assert h.state.subscriber.subscribed.wait(5)
        assert h.state.read_model_listener.subscribed.wait(5)
    finally:
        h.state.stop()
    assert not h.state.subscriber.alive and not h.state.read_model_listener.alive
