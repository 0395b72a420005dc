"""The outbox and the dispatcher: claims, backoff with jitter, giving up, restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest

from api_server.alerts import AlertEvent
from api_server.outbox import (
    BACKOFF_CAP_SECONDS,
    GIVE_UP_SECONDS,
    LEASE_SECONDS,
    Outbox,
    backoff_seconds,
)
from api_server.webhook_dispatch import WebhookDispatcher
from api_server.webhooks import SIGNATURE_HEADER, Attempt, sign
from cryptostats_dev.webhook_receiver import WebhookReceiver

T = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(n: int = 1, webhook: str | None = "http://hooks.example/h") -> AlertEvent:
    return AlertEvent(
        id=f"al_x-{n}",
        alert_id="al_x",
        owner="k1",
        coin="bitcoin",
        type="upper",
        threshold=10.0,
        price=11.0,
        observed_at=T,
        fired_at=T,
        webhook=webhook,
        secret="s",
    )


@pytest.fixture
def outbox() -> Outbox:
    found = Outbox(mongomock.MongoClient()["outbox-test"])
    found.ensure_indexes()
    return found


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    lows = [backoff_seconds(n, lambda: 0.0) for n in range(1, 12)]
    highs = [backoff_seconds(n, lambda: 1.0) for n in range(1, 12)]
    assert highs[:4] == [5.0, 10.0, 20.0, 40.0]
    assert lows[:2] == [2.5, 5.0]
    assert max(highs) == BACKOFF_CAP_SECONDS
    total = sum(highs)  # the retry schedule spans about an hour before giving up
    assert 1800 < total < 2 * GIVE_UP_SECONDS


def test_only_webhook_events_are_queued_once(outbox: Outbox) -> None:
    assert outbox.enqueue([event(1), event(2, webhook=None)], 1000.0) == 1
    assert outbox.enqueue([event(1)], 1000.0) == 0  # a double evaluation adds nothing
    assert outbox.count_pending() == 1


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(outbox: Outbox) -> None:
    outbox.enqueue([event()], 1000.0)
    first = outbox.claim(1000.0)
    assert first is not None and json.loads(first.body)["id"] == "al_x-1"
    assert outbox.claim(1001.0) is None  # another process: nothing to send
    assert outbox.claim(1000.0 + LEASE_SECONDS) is not None  # the first process died


def test_failures_are_retried_later_then_given_up(outbox: Outbox) -> None:
    outbox.enqueue([event()], 1000.0)
    delivery = outbox.claim(1000.0)
    assert delivery is not None
    state = outbox.record(
        delivery, now=1000.0, status=500, error="", millis=3, delivered=False, rand=lambda: 1.0
    )
    assert state == "pending"
    assert outbox.claim(1004.0) is None and outbox.claim(1005.0) is not None
    late = outbox.claim(1000.0 + GIVE_UP_SECONDS + LEASE_SECONDS)
    assert late is not None
    state = outbox.record(
        late,
        now=1000.0 + GIVE_UP_SECONDS + LEASE_SECONDS,
        status=None,
        error="ConnectTimeoutError",
        millis=3000,
        delivered=False,
    )
    assert state == "failed"
    [doc] = outbox.of_alert("al_x")
    assert doc["attemptCount"] == 2 and [a["status"] for a in doc["attempts"]] == [500, None]
    assert "secret" not in doc


def test_dispatcher_retries_until_delivered_and_records_each_attempt(outbox: Outbox) -> None:
    clock = Clock()
    answers = [Attempt(None, "ConnectionError"), Attempt(503), Attempt(200)]
    sent: list[str] = []

    def sender(delivery: Any) -> Attempt:
        sent.append(delivery.id)
        return answers.pop(0)

    dispatcher = WebhookDispatcher(outbox, allow_private=True, sender=sender, clock=clock)
    outbox.enqueue([event()], clock.now)
    assert dispatcher.tick() == 1
    assert dispatcher.tick() == 0  # not due yet
    for _ in range(2):
        clock.now += BACKOFF_CAP_SECONDS
        assert dispatcher.tick() == 1
    assert sent == ["al_x-1"] * 3
    [doc] = outbox.of_alert("al_x")
    assert doc["state"] == "delivered"
    assert [a["status"] for a in doc["attempts"]] == [None, 503, 200]
    clock.now += BACKOFF_CAP_SECONDS
    assert dispatcher.tick() == 0  # delivered: never sent again


def test_a_new_dispatcher_on_the_same_store_delivers_what_a_stopped_one_left(
    outbox: Outbox,
) -> None:
    receiver = WebhookReceiver().start()
    try:
        outbox.enqueue([event(webhook=receiver.url)], 1000.0)
        WebhookDispatcher(outbox, allow_private=True).run(max_ticks=1)  # after a "restart"
        [got] = receiver.received
        assert got.headers[SIGNATURE_HEADER] == sign("s", got.body)
        assert json.loads(got.body)["alertId"] == "al_x"
    finally:
        receiver.stop()


def test_run_stops_when_asked(outbox: Outbox) -> None:
    dispatcher = WebhookDispatcher(outbox, allow_private=True, poll_seconds=0.01)
    dispatcher.start()
    dispatcher.stop(timeout=5)
    assert dispatcher._thread is None
