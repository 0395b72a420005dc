from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from api_server.errors import UpstreamError
from cryptostats.messages import Heartbeat, heartbeat_key
from tests.unit.conftest import Harness


def test_status_reports_ingests_ages_worker_and_subscriber(harness: Harness) -> None:
    ingestor = harness.state.ingestor
    harness.ingest("first")
    harness.source.error = UpstreamError("timeout", "read timed out")
    later = datetime.now(UTC) + timedelta(seconds=1)
    ingestor.now = lambda: later
    harness.ingest("second")
    now = time.time()
    beat = Heartbeat(at=now - 2, interval_seconds=900, next_trigger_at=now + 60)
    harness.redis.set(heartbeat_key("crypto.update"), beat.encode())
    body = harness.client.get("/api/status").get_json()
    assert [i["reason"] for i in body["ingests"]] == ["second", "first"]
    newest, oldest = body["ingests"]
    assert newest["outcome"] == "upstream_error" and newest["errors"] == ["timeout: read timed out"]
    assert oldest == {
        "startedAt": oldest["startedAt"],
        "finishedAt": oldest["finishedAt"],
        "reason": "first",
        "outcome": "ok",
        "stored": ["bitcoin", "ethereum", "matic-network"],
        "skipped": {},
        "duplicates": [],
        "upstreamCalls": 1,
        "errors": [],
        "source": "scripted.test",
    }
    assert oldest["startedAt"].endswith("Z") and oldest["finishedAt"] >= oldest["startedAt"]
    assert set(body["coins"]) == {"bitcoin", "ethereum", "matic-network"}
    assert body["coins"]["bitcoin"]["observedAt"] == "2026-01-01T00:01:00.000Z"
    assert body["coins"]["bitcoin"]["ageSeconds"] > 0
    assert 1.5 <= body["worker"]["heartbeatAgeSeconds"] < 10
    assert body["worker"]["nextTriggerAt"].endswith("Z")
    assert body["worker"]["intervalSeconds"] == 900
    assert body["subscriber"] == {"alive": False, "subscribed": False, "reconnects": 0}
    assert body["updateIntervalSeconds"] == 900


def test_status_without_data_or_heartbeat_has_nulls(harness: Harness) -> None:
    body = harness.client.get("/api/status").get_json()
    assert body["ingests"] == []
    assert body["coins"]["bitcoin"] == {"observedAt": None, "ageSeconds": None}
    assert body["worker"] == {
        "heartbeatAgeSeconds": None,
        "nextTriggerAt": None,
        "intervalSeconds": 900,
    }


def test_status_answers_when_redis_is_down(harness: Harness) -> None:
    harness.state.redis = redis.Redis(
        port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    resp = harness.client.get("/api/status")
    assert resp.status_code == 200
    assert resp.get_json()["worker"]["heartbeatAgeSeconds"] is None
