"""POST /api/admin/backfill: loopback only, streamed progress, one backfill at a time."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.unit.conftest import Harness

LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.mark.parametrize(
    ("remote", "headers"),
    [
        ("10.0.0.7", {}),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}),
        ("::2", {}),
    ],
)
def test_only_direct_local_requests_are_answered(
    harness: Harness, remote: str, headers: dict[str, str]
) -> None:
    resp = harness.client.post(
        "/api/admin/backfill", headers=headers, environ_base={"REMOTE_ADDR": remote}
    )
    assert resp.status_code == 403 and "local" in resp.get_json()["error"]
    assert harness.store.count_observations("bitcoin") == 0


def test_the_run_streams_the_plan_each_coin_and_the_report(harness: Harness) -> None:
    resp = harness.client.post("/api/admin/backfill?days=2&coins=bitcoin", environ_base=LOOPBACK)
    assert resp.status_code == 200 and resp.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert lines[0] == {"planned": [{"coin": "bitcoin", "days": 2}]}
    assert lines[1]["coin"] == "bitcoin" and lines[1]["stored"] > 40
    assert lines[-1]["report"]["outcome"] == "ok" and lines[-1]["report"]["reason"] == "backfill"
    assert harness.store.count_observations("ethereum") == 0


@pytest.mark.parametrize(
    "query", ["days=0", "days=366", "days=x", "coins=dogecoin", "coins=bitcoin,dogecoin"]
)
def test_bad_parameters_are_400(harness: Harness, query: str) -> None:
    resp = harness.client.post(f"/api/admin/backfill?{query}", environ_base=LOOPBACK)
    assert resp.status_code == 400


def test_a_held_claim_is_a_409(harness: Harness) -> None:
    claim = harness.state.backfill.claim
    claim.client.set(claim.key, "another-process", px=60_000)
    resp = harness.client.post("/api/admin/backfill", environ_base=LOOPBACK)
    assert resp.status_code == 409 and "another backfill" in resp.get_json()["error"]


def test_a_request_through_a_trusted_local_proxy_is_refused(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(env={"TRUSTED_PROXIES": "127.0.0.1"})
    resp = h.client.post(
        "/api/admin/backfill",
        headers={"X-Forwarded-For": "127.0.0.1"},
        environ_base=LOOPBACK,
    )
    assert resp.status_code == 403
