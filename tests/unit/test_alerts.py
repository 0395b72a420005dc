"""The firing rules: once on the first crossing, re-armed when back, one event per observation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest

from api_server.alert_eval import AlertEvaluator
from api_server.alerts import MAX_ALERTS_PER_OWNER, AlertStore, TooManyAlerts, event_id
from api_server.outbox import Outbox
from tests.unit.fakes import observation

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def database() -> Any:
    return mongomock.MongoClient()["alerts-test"]


def evaluator(database: Any, wake: threading.Event | None = None) -> AlertEvaluator:
    store, outbox = AlertStore(database), Outbox(database)
    store.ensure_indexes()
    outbox.ensure_indexes()
    return AlertEvaluator(store, outbox, wake=wake, now=lambda: NOW, clock=lambda: 1000.0)


def test_an_upper_alert_fires_once_then_rearms_when_back(database: Any) -> None:
    ev = evaluator(database)
    alert = ev.alerts.create("k1", "bitcoin", "upper", 100.0, now=NOW)
    prices = [99.0, 101.0, 105.0, 100.0, 102.0]
    fired = [len(ev.evaluate(observation("bitcoin", p, seq=i))) for i, p in enumerate(prices)]
    assert fired == [0, 1, 0, 0, 1]  # 100.0 is not beyond: it re-arms
    events = ev.alerts.events_of("k1")
    assert [(e.price, e.type, e.threshold) for e in events] == [
        (102.0, "upper", 100.0),
        (101.0, "upper", 100.0),
    ]
    assert events[0].alert_id == alert["_id"]


def test_a_lower_alert_fires_below_and_other_coins_are_untouched(database: Any) -> None:
    ev = evaluator(database)
    ev.alerts.create("k1", "ethereum", "lower", 50.0, now=NOW)
    assert ev.evaluate(observation("bitcoin", 10.0)) == []
    [event] = ev.evaluate(observation("ethereum", 49.5))
    assert (event.coin, event.type, event.price) == ("ethereum", "lower", 49.5)
    assert ev.alerts.find("k1", event.alert_id)["state"] == "fired"  # type: ignore[index]


def test_an_alert_created_beyond_fires_at_the_next_stored_price(database: Any) -> None:
    ev = evaluator(database)
    ev.alerts.create("k1", "bitcoin", "upper", 10.0, now=NOW)
    assert len(ev.evaluate(observation("bitcoin", 500.0))) == 1


def test_evaluating_one_observation_twice_stores_one_event_and_one_delivery(
    database: Any,
) -> None:
    first, second = evaluator(database), evaluator(database)  # two processes, one store
    alert = first.alerts.create("k1", "bitcoin", "upper", 10.0, webhook="http://x/h", now=NOW)
    obs = observation("bitcoin", 20.0)
    first.alerts.alerts.update_one({"_id": alert["_id"]}, {"$set": {"state": "armed"}})
    assert len(first.evaluate(obs)) == 1
    first.alerts.alerts.update_one({"_id": alert["_id"]}, {"$set": {"state": "armed"}})
    assert second.evaluate(obs) == []  # same observation: the event id already exists
    assert database["alert_events"].count_documents({}) == 1
    assert database["alert_deliveries"].count_documents({}) == 1
    assert database["alert_events"].find_one()["_id"] == event_id(alert["_id"], obs.observed_at)


def test_webhook_alerts_queue_a_delivery_and_wake_the_dispatcher(database: Any) -> None:
    wake = threading.Event()
    ev = evaluator(database, wake)
    ev.alerts.create("k1", "bitcoin", "upper", 10.0, now=NOW)
    ev.evaluate(observation("bitcoin", 20.0))
    assert not wake.is_set()  # no webhook: nothing to deliver
    ev.alerts.create("k1", "bitcoin", "upper", 15.0, webhook="http://x/h", now=NOW)
    ev.evaluate(observation("bitcoin", 30.0, seq=1))
    assert wake.is_set()
    assert ev.outbox.count_pending() == 1


def test_only_alerts_that_change_state_are_read(database: Any) -> None:
    ev = evaluator(database)
    for i in range(50):
        ev.alerts.create(f"k{i}", "bitcoin", "upper", 1000.0 + i, now=NOW)
    ev.alerts.create("k1", "bitcoin", "upper", 10.0, now=NOW)
    assert len(ev.alerts.crossed("bitcoin", 20.0)) == 1  # the query, not a scan, selects


def test_at_most_max_alerts_per_owner(database: Any) -> None:
    store = AlertStore(database)
    for _ in range(MAX_ALERTS_PER_OWNER):
        store.create("k1", "bitcoin", "upper", 1.0, now=NOW)
    with pytest.raises(TooManyAlerts):
        store.create("k1", "bitcoin", "upper", 1.0, now=NOW)
    store.create("k2", "bitcoin", "upper", 1.0, now=NOW)  # another owner has room


def test_a_store_failure_is_logged_not_raised(database: Any) -> None:
    ev = evaluator(database)

    def broken(coin: str, price: float) -> int:
        from api_server.errors import StoreUnavailable

        raise StoreUnavailable("down")

    ev.alerts.rearm = broken  # type: ignore[method-assign]
    ev.on_stored([observation("bitcoin", 1.0)])  # no exception reaches the ingest


def test_an_unexpected_fault_is_logged_not_raised(
    database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ev = evaluator(database)
    ev.alerts.create("k1", "bitcoin", "upper", 1.0, now=NOW)

    def broken(obs: Any, alerts: Any, now: Any) -> list[Any]:
        raise KeyError("bug")

    ev.alerts.fire = broken  # type: ignore[method-assign]
    ev.on_stored([observation("bitcoin", 5.0)])
    assert "alerts not evaluated" in caplog.text
