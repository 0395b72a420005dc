"""GET /ready names every check and is 200 only when the required ones pass; store outages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import mongomock
import pytest

from api_server.errors import StoreUnavailable
from api_server.store import Store
from cryptostats.messages import Heartbeat, heartbeat_key
from tests.unit.conftest import Harness


@pytest.fixture
def running(make_harness: Callable[..., Harness]) -> Iterator[Harness]:
    """An app with fresh data whose background threads run (and wait on their poll)."""
    harness = make_harness(poll_seconds=0.01)  # stop() waits out at most one poll
    harness.ingest("before start")
    harness.state.start()
    assert harness.state.subscriber.subscribed.wait(5)
    yield harness
    harness.state.stop()


def beat(h: Harness, age: float) -> None:
    h.redis.set(heartbeat_key("crypto.update"), Heartbeat(time.time() - age, 900).encode())


def test_ready_names_every_check(running: Harness) -> None:
    beat(running, 1)
    resp = running.client.get("/ready")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert set(checks) == {"redis", "store", "subscriber", "data", "worker", "lastIngest"}
    assert checks["subscriber"]["alive"] and checks["subscriber"]["subscribed"]
    assert set(checks["data"]["coins"]) == {"bitcoin", "ethereum", "matic-network"}
    assert checks["data"]["coins"]["bitcoin"]["samples"] == 1
    assert checks["data"]["coins"]["bitcoin"]["ageSeconds"] < 5
    assert checks["worker"]["ok"] and checks["worker"]["heartbeatAgeSeconds"] >= 1
    assert checks["lastIngest"]["outcome"] == "ok"


def test_a_stale_or_missing_heartbeat_is_reported_but_not_required(running: Harness) -> None:
    beat(running, 60)
    resp = running.client.get("/ready")
    worker = resp.get_json()["checks"]["worker"]
    assert not worker["ok"] and re.search(
        r"\b6[0-2] s old", worker["error"]
    )  # 60 s (or a slow run)
    assert resp.status_code == 200
    running.redis.delete(heartbeat_key("crypto.update"))
    worker = running.client.get("/ready").get_json()["checks"]["worker"]
    assert worker["heartbeatAgeSeconds"] is None and "no heartbeat" in worker["error"]


def test_stale_data_makes_the_api_unready(running: Harness) -> None:
    running.state.ingestor.now = lambda: datetime(2020, 1, 1, tzinfo=UTC)
    running.source.prices = lambda coin, n: 7.0
    running.ingest("long ago")
    resp = running.client.get("/ready")
    assert resp.status_code == 503
    data = resp.get_json()["checks"]["data"]
    assert not data["ok"] and not data["coins"]["bitcoin"]["fresh"]


def test_not_ready_before_the_subscriber_runs(harness: Harness) -> None:
    resp = harness.client.get("/ready")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["subscriber"] == {**checks["subscriber"], "ok": False, "alive": False}
    assert checks["data"]["coins"]["bitcoin"] == {"fresh": False, "ageSeconds": None, "samples": 0}


class FlakyStore(Store):
    """A store whose every operation fails while `down` is set."""

    down = False

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if callable(attr) and not name.startswith("_") and object.__getattribute__(self, "down"):

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable("data store unavailable (ServerSelectionTimeoutError)")

            return fail
        return attr


def test_store_outage_is_503_and_the_api_recovers_by_itself(
    make_harness: Callable[..., Harness],
) -> None:
    store = FlakyStore(mongomock.MongoClient()["flaky"], embedded=True)
    h = make_harness(store=store)
    assert h.ingest("first").outcome == "ok"  # type: ignore[union-attr]
    store.down = True
    h.state.read_model.refresh()
    assert h.client.get("/api/stats?coin=bitcoin").status_code == 503
    ready = h.client.get("/ready")
    assert ready.status_code == 503 and not ready.get_json()["checks"]["store"]["ok"]
    assert h.client.get("/health").status_code == 200
    report = h.state.ingestor.ingest("during the outage")
    assert report is not None and report.outcome == "store_error"
    assert h.client.get("/ready").get_json()["checks"]["lastIngest"]["outcome"] == "store_error"
    store.down = False
    h.state.read_model.refresh()  # the read model's timer, or a read's background retry
    assert h.client.get("/api/stats?coin=bitcoin").status_code == 200
    report = h.state.ingestor.ingest("next trigger")
    assert report is not None and report.outcome == "ok"
    assert h.store.count_observations("bitcoin") == 2


def test_serving_mode_stays_ready_on_stale_data_and_still_reports_it(running: Harness) -> None:
    running.state.ingestor.now = lambda: datetime(2020, 1, 1, tzinfo=UTC)
    running.source.prices = lambda coin, n: 7.0
    running.ingest("long ago")
    assert running.client.get("/ready").status_code == 503  # the default mode: fresh data
    resp = running.client.get("/ready?mode=serving")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ready" and body["mode"] == "serving"
    data = body["checks"]["data"]
    assert data["ok"] is False and data["required"] is False
    assert data["coins"]["bitcoin"]["fresh"] is False and data["coins"]["bitcoin"]["ageSeconds"] > 0
    assert running.client.get("/api/stats?coin=bitcoin").get_json()["price"] == 7.0


def test_serving_mode_requires_only_the_store(make_harness: Callable[..., Harness]) -> None:
    store = FlakyStore(mongomock.MongoClient()["flaky"], embedded=True)
    h = make_harness(store=store)  # no subscriber thread, no heartbeat, no data
    body = h.client.get("/ready?mode=serving").get_json()
    assert body["status"] == "ready"
    assert {name for name, check in body["checks"].items() if check["required"]} == {"store"}
    assert not body["checks"]["subscriber"]["ok"] and not body["checks"]["data"]["ok"]
    store.down = True
    resp = h.client.get("/ready?mode=serving")
    assert resp.status_code == 503 and not resp.get_json()["checks"]["store"]["ok"]


def test_the_default_mode_is_fresh_and_says_so(running: Harness) -> None:
    body = running.client.get("/ready").get_json()
    assert body["mode"] == "fresh"
    assert running.client.get("/ready?mode=fresh").get_json() == {**body, "checks": ANY}
    required = {name for name, check in body["checks"].items() if check["required"]}
    assert required == {"redis", "store", "subscriber", "data"}


@pytest.mark.parametrize("query", ["mode=lenient", "mode=", "mode=serving&mode=fresh"])
def test_an_unknown_or_repeated_mode_is_a_json_400(harness: Harness, query: str) -> None:
    resp = harness.client.get(f"/ready?{query}")
    assert resp.status_code == 400
    assert "mode" in resp.get_json()["error"]
