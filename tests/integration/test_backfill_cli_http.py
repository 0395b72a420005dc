"""The backfill CLI's direct-store target against the in-process simulator over HTTP.

The simulator listens on a real socket, so this lives here rather than in tests/unit (issue 9); the
target's logic with a scripted chart source is unit-tested in tests/unit/test_backfill_cli.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import mongomock
import pytest

from api_server.backfill_cli import DirectTarget
from api_server.buckets import Buckets, choose_interval
from api_server.history_view import history_window, render_json
from api_server.pacing import CallSpacer
from cryptostats.config import Settings
from cryptostats_dev.simulator import SimulatorServer
from tests.unit.test_backfill import FakeTime

pytestmark = pytest.mark.integration


def test_direct_target_against_the_simulator_over_http() -> None:
    db = mongomock.MongoClient().db
    with SimulatorServer(port=0, seed=2) as sim:
        env = {"COINGECKO_API_URL": sim.url, "COINS": "bitcoin,nope-coin", "BACKFILL_DAYS": "30"}
        settings = Settings.from_env(env)
        fake = FakeTime()
        spacer = CallSpacer(30, clock=fake.clock, sleep=fake.sleep)
        target = DirectTarget(settings, database=db, spacer=spacer)
        first = target.run(None)
        second = target.run(None)
    assert first.outcome == "partial" and "nope-coin" in first.skipped
    assert 700 <= first.points["bitcoin"] <= 722
    assert second.points == {} and second.up_to_date == ["bitcoin"]
    assert second.upstream_calls == 1  # only the unknown coin is asked again
    now = datetime.now(UTC)
    window = history_window("bitcoin", 30, choose_interval(30), now)
    buckets = Buckets(db).query("bitcoin", window.interval, window.since)
    assert 700 <= len(buckets) <= 722
    body = json.loads(render_json(window, buckets))
    assert body["interval"] == "1h" and body["points"][-1]["volume24h"] > 0
