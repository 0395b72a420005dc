"""The whole system with real processes: redis-server, simulator, API under gunicorn, worker."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest
import redis

from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.procs import wait_until

pytestmark = pytest.mark.integration

UPSTREAM = {
    "bitcoin": "bitcoin",
    "ethereum": "ethereum",
    "matic-network": "polygon-ecosystem-token",
}


def served_markets(sim: SimulatorProcess) -> list[dict]:
    return [e for e in sim.served() if e["path"] == "/coins/markets" and e["status"] == 200]


def stats_match(api: Api, coin: str, served: dict) -> bool:
    body = api.get(f"/api/stats?coin={coin}").json()
    return body == {
        "price": served["current_price"],
        "marketCap": served["market_cap"],
        "24hChange": served["price_change_percentage_24h"],
    }


def test_worker_trigger_is_ingested_and_served(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim)
    # The API fetches once at start because the store is empty.
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    first = len(served_markets(sim))
    assert first == 1
    time.sleep(0.6)  # past the claim window
    stack.worker()
    wait_until(lambda: len(served_markets(sim)) == 2, 15, "the worker's trigger to be fetched")
    latest = served_markets(sim)[-1]["coins"]
    for coin, upstream in UPSTREAM.items():
        wait_until(lambda c=coin, u=upstream: stats_match(api, c, latest[u]), 10, f"{coin} stats")
        assert api.get(f"/stats?coin={coin}").json() == api.get(f"/api/stats?coin={coin}").json()


def test_deviation_is_the_population_deviation_of_served_prices(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim, INGEST_CLAIM_SECONDS="0.3")
    worker = stack.worker(UPDATE_INTERVAL_SECONDS="1")
    wait_until(lambda: len(served_markets(sim)) >= 5, 20, "five fetches")
    worker.stop()
    time.sleep(0.5)
    served = served_markets(sim)
    prices = [entry["coins"]["bitcoin"]["current_price"] for entry in served]
    wait_until(
        lambda: api.get("/api/stats?coin=bitcoin").json()["price"] == prices[-1], 10, "last price"
    )
    mean = math.fsum(prices) / len(prices)
    expected = math.sqrt(math.fsum((p - mean) ** 2 for p in prices) / len(prices))
    body = api.get("/api/deviation?coin=bitcoin").json()
    assert body == {"deviation": round(expected, 2)}
    assert body["deviation"] > 0


def test_two_api_processes_make_one_upstream_call_per_trigger(stack: Lab) -> None:
    sim = stack.simulator()
    first = stack.api(sim, name="api-1")
    second = stack.api(sim, name="api-2")
    client = redis.Redis.from_url(stack.redis.url)
    wait_until(
        lambda: client.pubsub_numsub("crypto.update")[0][1] == 2, 10, "both APIs to subscribe"
    )
    time.sleep(0.6)  # let the start-up catch-up claims expire
    sim.reset()
    triggers = 4
    for _ in range(triggers):
        assert client.publish("crypto.update", '{"trigger": "update"}') == 2
        time.sleep(0.8)  # a new claim window for each trigger
    wait_until(lambda: sim.total_calls() >= triggers, 10, "fetches")
    time.sleep(1.0)
    assert sim.total_calls() == triggers
    for api in (first, second):
        assert api.get("/health").json() == {"status": "OK"}
    client.close()


def test_worker_exits_0_within_two_seconds_of_sigterm(stack: Lab) -> None:
    worker = stack.worker()
    wait_until(lambda: "trigger published" in worker.log_text(), 15, "the first publish")
    assert worker.pid is not None
    asked = time.monotonic()
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=5) == 0
    assert time.monotonic() - asked < 2


def test_api_stops_cleanly_on_sigterm(stack: Lab) -> None:
    api = stack.api(None, COINGECKO_API_URL="http://127.0.0.1:9")
    assert api.process.pid is not None
    os.kill(api.process.pid, signal.SIGTERM)
    assert api.process.wait(timeout=15) == 0
