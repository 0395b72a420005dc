"""Users and actions with real processes: the seed client's refresh, keys, and Redis killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.lab import Lab, SimulatorProcess
from cryptostats_dev.procs import (
    LOCALHOST,
    ManagedProcess,
    free_port,
    python_module_cmd,
    wait_for_http,
    wait_until,
)

pytestmark = pytest.mark.integration

ADMIN_KEY = "integration-admin-key-0123456789abcdef"


def markets_served(sim: SimulatorProcess) -> list[dict]:
    return [e for e in sim.served() if e["path"] == "/coins/markets" and e["status"] == 200]


def test_seed_client_refresh_from_localhost(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim, ADMIN_API_KEY=ADMIN_KEY)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    time.sleep(0.6)  # past the ingest claim window of the start-up fetch
    stack.worker()
    wait_until(lambda: len(markets_served(sim)) == 2, 15, "the worker's start-up trigger")
    time.sleep(0.6)  # past the ingest claim window, so the refresh fetches
    before = api.stats("bitcoin")

    # As the seed Streamlit client does it: no headers at all.
    resp = requests.post(f"{api.url}/trigger-update", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "triggered", "receivers": 1}
    wait_until(lambda: len(markets_served(sim)) == 3, 15, "the refresh to be fetched")
    newest = markets_served(sim)[-1]["coins"]["bitcoin"]
    wait_until(
        lambda: api.stats("bitcoin")["price"] == newest["current_price"], 10, "new data served"
    )
    assert api.stats("bitcoin") != before

    again = requests.post(f"{api.url}/api/refresh", timeout=10)
    assert again.status_code == 429
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    time.sleep(0.6)
    assert len(markets_served(sim)) == 3  # nothing published, nothing fetched


def test_redis_killed_reads_work_writes_fail_closed(
    stack: Lab, real_redis_server: RedisServer
) -> None:
    sim = stack.simulator()
    api = stack.api(sim, ADMIN_API_KEY=ADMIN_KEY)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = requests.post(f"{api.url}/api/keys", json={"name": "u"}, headers=admin, timeout=10)
    user = {"Authorization": f"Bearer {created.json()['key']}"}
    put = f"{api.url}/api/watchlist/bitcoin"
    assert requests.put(put, headers=user, timeout=10).status_code == 200

    assert real_redis_server.pid is not None
    os.kill(real_redis_server.pid, signal.SIGKILL)
    wait_until(lambda: not real_redis_server.alive, 5, "redis-server to die")

    started = time.monotonic()
    for path in ("/api/stats?coin=bitcoin", "/api/deviation?coin=bitcoin", "/api/coins"):
        assert api.get(path, timeout=5).status_code == 200, path
    assert time.monotonic() - started < 1.0  # reads never wait for Redis
    for method, url in (("PUT", put), ("POST", f"{api.url}/api/refresh")):
        resp = requests.request(method, url, headers=user, timeout=15)
        assert resp.status_code == 503, (url, resp.text)
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.json()["error"]
    for path in ("/health", "/metrics"):
        assert api.get(path, timeout=5).status_code == 200

    real_redis_server.start()
    wait_until(
        lambda: requests.put(put, headers=user, timeout=10).status_code == 200,
        15,
        "writes to work again once Redis is back",
    )


def test_seed_client_refresh_against_make_run(
    real_redis_server: RedisServer, tmp_logs: Path
) -> None:
    """`make run --demo` as a user starts it (its .env included), refreshed with no headers."""
    port = free_port()
    env = {
        "REDIS_URL": real_redis_server.url,  # else it starts its own broker; same code path
        "API_HOST": LOCALHOST,
        "API_PORT": str(port),
        "UPDATE_INTERVAL_SECONDS": "3600",  # only the start-up trigger from the worker
        "INGEST_CLAIM_SECONDS": "0.5",
        "MONGO_URI": None,
        "ADMIN_API_KEY": None,
    }
    url = f"http://{LOCALHOST}:{port}"
    with ManagedProcess(
        python_module_cmd("cryptostats_dev.stack", "--demo"),
        name="make-run",
        env=env,
        log_path=tmp_logs / "make-run.log",
    ) as run:
        wait_for_http(f"{url}/health", timeout=30, process=run)
        wait_until(lambda: requests.get(f"{url}/api/stats?coin=bitcoin", timeout=5).ok, 20, "data")
        wait_until(lambda: worker_seen(url), 15, "the worker's heartbeat (it has triggered)")
        time.sleep(1.0)  # past the claim window of the worker's start-up trigger
        before = len(ingests(url))
        price = requests.get(f"{url}/api/stats?coin=bitcoin", timeout=5).json()["price"]

        resp = requests.post(f"{url}/trigger-update", timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "triggered" and resp.json()["receivers"] >= 1
        wait_until(lambda: len(ingests(url)) > before, 15, "the refresh's ingest")
        newest = ingests(url)[0]
        assert newest["outcome"] == "ok" and newest["reason"] == "trigger"
        wait_until(
            lambda: (
                requests.get(f"{url}/api/stats?coin=bitcoin", timeout=5).json()["price"] != price
            ),
            10,
            "the new price to be served",
        )
        assert requests.post(f"{url}/trigger-update", timeout=10).status_code == 429


def ingests(url: str) -> list[dict]:
    return list(requests.get(f"{url}/api/status", timeout=5).json()["ingests"])


def worker_seen(url: str) -> bool:
    return bool(requests.get(f"{url}/ready", timeout=5).json()["checks"]["worker"]["ok"])


def test_the_keys_command_against_a_running_api(stack: Lab) -> None:
    api = stack.api(None, ADMIN_API_KEY=ADMIN_KEY)
    env = {**os.environ, "ADMIN_API_KEY": ADMIN_KEY, "CRYPTOSTATS_URL": api.url}
    env.pop("ADMIN_API_KEY_FILE", None)

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = python_module_cmd("api_server.keys_cli", *args)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)

    created = keys("create", "cli user")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    auth = {"Authorization": f"Bearer {key['key']}"}
    assert api.get("/api/watchlist", headers=auth).status_code == 200
    listed = keys("list")
    assert key["id"] in listed.stdout and key["key"] not in listed.stdout
    assert keys("revoke", key["id"]).returncode == 0
    assert api.get("/api/watchlist", headers=auth).status_code == 401
    assert keys("revoke", key["id"]).returncode == 1
    env["ADMIN_API_KEY"] = "wrong-admin-key-0123456789abcdef"
    refused = keys("list")
    assert refused.returncode == 1 and "401" in refused.stderr
