"""Rate limits: per client, shared through Redis, JSON 429s; probes never limited; Redis down."""

from __future__ import annotations

import fakeredis
import pytest

from tests.unit.actions_harness import REMOTE, build


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def test_writes_are_limited_by_default(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_WRITES": ""})  # "" = the default 10/minute
    _, key = app.new_key()
    statuses = [app.call("PUT", "/api/watchlist/bitcoin", key=key).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]


def test_over_the_limit_is_a_json_429_with_retry_after(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_WRITES": "2/minute"})
    _, key = app.new_key()
    first = app.call("PUT", "/api/watchlist/bitcoin", key=key)
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in first.headers  # only a refusal says when to retry
    app.call("PUT", "/api/watchlist/bitcoin", key=key)
    resp = app.call("PUT", "/api/watchlist/bitcoin", key=key)
    assert resp.status_code == 429
    assert resp.mimetype == "application/json"
    assert resp.get_json()["error"].startswith("rate limit exceeded: 2 per 1 minute")
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["X-RateLimit-Remaining"] == "0"


def test_counts_are_per_client_and_shared_by_processes(server: fakeredis.FakeServer) -> None:
    first = build(server=server, access={"RATE_LIMIT_WRITES": "2/minute"})
    second = build(server=server, access={"RATE_LIMIT_WRITES": "2/minute"}, database=first.database)
    _, alice = first.new_key("alice")
    _, bob = first.new_key("bob")
    assert first.call("PUT", "/api/watchlist/bitcoin", key=alice).status_code == 200
    assert second.call("PUT", "/api/watchlist/bitcoin", key=alice).status_code == 200
    assert second.call("PUT", "/api/watchlist/bitcoin", key=alice).status_code == 429
    assert first.call("PUT", "/api/watchlist/bitcoin", key=bob).status_code == 200
    # Anonymous callers count by address.
    assert first.call("DELETE", "/api/watchlist/x", addr=REMOTE).status_code == 401
    assert first.call("DELETE", "/api/watchlist/x", addr=REMOTE).status_code == 401
    assert second.call("DELETE", "/api/watchlist/x", addr=REMOTE).status_code == 429


def test_ask_is_limited(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_ASK": "2/minute"})
    body = {"query": "price of bitcoin"}
    statuses = [app.call("POST", "/api/ask", json=body).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_probes_are_never_limited(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_READS": "1/minute"})
    for path in ("/health", "/ready", "/metrics"):
        for _ in range(3):
            resp = app.call("GET", path)
            assert resp.status_code != 429, path
            assert "X-RateLimit-Limit" not in resp.headers
    statuses = [app.call("GET", "/api/coins").status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_redis_down_reads_work_and_writes_fail_closed(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_WRITES": "5/minute"})
    _, key = app.new_key()
    server.connected = False
    # No read limit is configured, so a read never asks Redis.
    for path in ("/api/stats?coin=bitcoin", "/api/deviation?coin=bitcoin", "/api/coins"):
        resp = app.call("GET", path)
        assert resp.status_code == 200, path
        assert "X-RateLimit-Limit" not in resp.headers
    for method, path in (("PUT", "/api/watchlist/bitcoin"), ("POST", "/api/refresh")):
        resp = app.call(method, path, key=key)
        assert resp.status_code == 503, path
        assert resp.mimetype == "application/json"
        assert "Redis" in resp.get_json()["error"]
    server.connected = True
    assert app.call("PUT", "/api/watchlist/bitcoin", key=key).status_code == 200


def test_redis_down_configured_read_limits_fail_open(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_READS": "100/minute"})
    assert app.call("GET", "/api/coins").headers["X-RateLimit-Limit"] == "100"
    server.connected = False
    assert app.call("GET", "/api/coins").status_code == 200
    assert app.call("GET", "/api/stats?coin=bitcoin").status_code == 200


def test_a_429_matches_the_documented_response(server: fakeredis.FakeServer) -> None:
    app = build(server=server, access={"RATE_LIMIT_ASK": "1/minute"})
    app.call("POST", "/api/ask", json={"query": "bitcoin price"})
    resp = app.call("POST", "/api/ask", json={"query": "bitcoin price"})
    doc = app.call("GET", "/openapi.json").get_json()
    documented = doc["paths"]["/api/ask"]["post"]["responses"]["429"]
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert resp.status_code == 429
    assert set(resp.get_json()) == {"error"}
    assert int(resp.headers["Retry-After"]) > 0
