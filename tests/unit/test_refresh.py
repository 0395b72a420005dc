"""Manual refresh: one trigger per REFRESH_MIN_SECONDS in all processes; 429 sooner, none sent."""

from __future__ import annotations

import fakeredis
import pytest

from api_server.refresh import refresh_key
from cryptostats.messages import UpdateTrigger
from tests.unit.actions_harness import build

CHANNEL = "crypto.update"


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def listener(server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    """A subscriber on the trigger channel, as an API process would be."""
    pubsub = fakeredis.FakeRedis(server=server).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANNEL)
    return pubsub


def received(pubsub: object) -> list[bytes]:
    # get_message answers None for the (ignored) subscribe confirmation too: drain a few.
    messages = [pubsub.get_message(timeout=0) for _ in range(5)]  # type: ignore[attr-defined]
    return [message["data"] for message in messages if message is not None]


def test_one_refresh_per_window_across_processes(server: fakeredis.FakeServer) -> None:
    pubsub = listener(server)
    first, second = build(server=server), build(server=server)
    resp = first.call("POST", "/api/refresh")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "triggered", "receivers": 1}
    assert received(pubsub) == [UpdateTrigger().encode().encode()]
    for app, path in ((second, "/api/refresh"), (first, "/trigger-update")):
        resp = app.call("POST", path)
        assert resp.status_code == 429
        assert resp.mimetype == "application/json"
        retry_after = int(resp.headers["Retry-After"])
        assert 55 <= retry_after <= 60
        assert resp.get_json()["retryAfterSeconds"] == retry_after
    assert received(pubsub) == []  # nothing published while the window holds
    state = second.call("GET", "/api/refresh").get_json()
    assert state["minSeconds"] == 60 and 55 <= state["retryAfterSeconds"] <= 60
    assert state["nextAllowedAt"] is not None


def test_the_window_expiring_allows_the_next(server: fakeredis.FakeServer) -> None:
    pubsub = listener(server)
    app = build(server=server, access={"REFRESH_MIN_SECONDS": "5"})
    assert app.call("POST", "/api/refresh").status_code == 200
    assert 0 < app.redis.pttl(refresh_key(CHANNEL)) <= 5000
    app.redis.delete(refresh_key(CHANNEL))  # what expiry does after 5 s
    assert app.call("GET", "/api/refresh").get_json()["retryAfterSeconds"] == 0
    assert app.call("POST", "/trigger-update").status_code == 200
    assert len(received(pubsub)) == 2


def test_worker_triggers_do_not_count(server: fakeredis.FakeServer) -> None:
    app = build(server=server)
    listener(server)
    fakeredis.FakeRedis(server=server).publish(CHANNEL, UpdateTrigger().encode())
    assert app.call("POST", "/api/refresh").status_code == 200


def test_a_refresh_nobody_received_releases_the_window(server: fakeredis.FakeServer) -> None:
    app = build(server=server)
    assert app.call("POST", "/api/refresh").get_json() == {"status": "triggered", "receivers": 0}
    assert app.redis.exists(refresh_key(CHANNEL)) == 0


def test_redis_down_is_a_json_503(server: fakeredis.FakeServer) -> None:
    app = build(server=server)
    server.connected = False  # fakeredis: every command raises ConnectionError
    for method in ("POST", "GET"):
        resp = app.call(method, "/api/refresh")
        assert resp.status_code == 503
        assert "unavailable" in resp.get_json()["error"]
