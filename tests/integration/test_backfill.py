"""The backfill with real processes: the start-up job, its claim across replicas, 429s, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.procs import wait_until

pytestmark = pytest.mark.integration

FAST = {"BACKFILL_DAYS": "30", "BACKFILL_CALLS_PER_MINUTE": "600"}
"""The simulator has no plan limit: pace the backfill at 0.1 s per call."""

HOURS_30_DAYS = 30 * 24
"""Hourly chart points over 30 days (CoinGecko's granularity for 2..90 days)."""


def chart_calls(sim: SimulatorProcess) -> list[dict[str, Any]]:
    return [e for e in sim.served() if e["path"].endswith("/market_chart")]


def history_points(api: Api, coin: str, days: int = 30) -> int:
    resp = api.get(f"/api/history?coin={coin}&days={days}")
    return len(resp.json()["points"]) if resp.status_code == 200 else 0


def backfill_reports(api: Api) -> list[dict[str, Any]]:
    return [i for i in api.get("/api/status").json()["ingests"] if i["reason"] == "backfill"]


def test_a_fresh_api_serves_30_days_within_seconds_and_the_contract_deviation(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim, COINS="bitcoin,ethereum,nosuchcoin", **FAST)
    for coin in ("bitcoin", "ethereum"):
        wait_until(lambda c=coin: history_points(api, c) >= HOURS_30_DAYS, 20, f"{coin} history")
    wait_until(lambda: backfill_reports(api), 10, "the backfill report in /api/status")
    report = backfill_reports(api)[0]
    assert report["outcome"] == "partial" and "nosuchcoin" in report["skipped"]
    body = api.get("/api/history?coin=bitcoin&days=30").json()
    assert body["interval"] == "1h" and body["points"][0]["deviation"] is None
    assert body["points"][-1]["volume24h"] > 0
    # Backfilled points are no deviation inputs: the window holds the trigger records only.
    wait_until(lambda: api.samples().get("bitcoin") == 1, 10, "the start-up record")
    assert len(chart_calls(sim)) == 3  # one per coin, the unknown one included
    metrics = api.get("/metrics").text
    assert 'cryptostats_backfills_total{outcome="partial"} 1.0' in metrics


def test_one_of_two_replicas_backfills_and_both_serve_it(stack: Lab) -> None:
    sim = stack.simulator()
    first = stack.api(sim, name="api-1", COINS="bitcoin", **FAST)
    second = stack.api(sim, name="api-2", COINS="bitcoin", **FAST)
    for api in (first, second):
        wait_until(lambda a=api: history_points(a, "bitcoin") >= HOURS_30_DAYS, 20, api.url)
    # The second started while the first held the claim or after it had stored and announced:
    # either way it fetched at most once more (its embedded store is its own).
    assert 1 <= len(chart_calls(sim)) <= 2


def test_429s_mid_way_are_retried_and_the_backfill_completes(stack: Lab) -> None:
    sim = stack.simulator()
    sim.fault("rate_limit", count=2, retry_after=0)
    api = stack.api(sim, COINS="bitcoin,ethereum", **FAST)
    for coin in ("bitcoin", "ethereum"):
        wait_until(lambda c=coin: history_points(api, c) >= HOURS_30_DAYS, 30, f"{coin} history")
    statuses = [e["status"] for e in sim.served()]
    assert statuses.count(429) == 2


def test_the_cli_asks_the_running_api_and_a_second_run_stores_nothing(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim, COINS="bitcoin", BACKFILL_DAYS="0")
    port = api.url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "API_PORT": port,
        "COINS": "bitcoin",
        "MONGO_URI": "",
        "REDIS_URL": stack.redis.url,
    }
    env.pop("MONGO_URI")
    cli = [sys.executable, "-m", "api_server.backfill_cli", "--days", "7", "--no-progress"]
    first = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ok:" in first.stdout
    stored = history_points(api, "bitcoin", 7)
    assert stored >= 7 * 24
    second = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "already stored" in second.stdout, second.stdout
    assert "0 points" in second.stdout
    assert len(chart_calls(sim)) == 1
