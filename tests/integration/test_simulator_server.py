"""The CoinGecko simulator over real HTTP: slow answers, shutdown, request log, command line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cryptostats_dev.procs import free_port
from cryptostats_dev.simulator import SimulatorServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HTTP_TIMEOUT = 10.0
"""Seconds any request of these tests may wait."""


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(port=0, seed=7, extra_coins=10) as srv:
        yield srv


def get(srv: SimulatorServer, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{srv.url}{path}", params=params, timeout=HTTP_TIMEOUT)


def markets(srv: SimulatorServer, **params: Any) -> list[dict[str, Any]]:
    response = get(srv, "/coins/markets", vs_currency="usd", precision="full", **params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def set_fault(srv: SimulatorServer, **fault: Any) -> None:
    requests.post(f"{srv.url}/_sim/fault", json=fault, timeout=HTTP_TIMEOUT).raise_for_status()


def test_base_path_serves_like_the_real_host() -> None:
    with SimulatorServer(port=0, base_path="/api/v3/", extra_coins=0) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}/api/v3"
        assert get(srv, "/ping").json() == {"gecko_says": "(V3) To the Moon!"}


def test_slow_fault_delays_the_answer(server: SimulatorServer) -> None:
    set_fault(server, mode="slow", count=2, delay=0.5)
    started = time.monotonic()
    assert len(markets(server, ids="bitcoin")) == 1
    assert time.monotonic() - started >= 0.5
    assert get(server, "/ping").elapsed.total_seconds() < 0.5, "ping is no data call"
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{server.url}/coins/markets",
            params={"ids": "bitcoin", "vs_currency": "usd"},
            timeout=0.1,
        )


def test_stopping_the_server_releases_slow_requests() -> None:
    outcome: list[int] = []
    with SimulatorServer(port=0, extra_coins=0) as srv:
        srv.sim.set_fault("slow", delay=30)
        url = f"{srv.url}/coins/markets?ids=bitcoin&vs_currency=usd"
        waiter = threading.Thread(
            target=lambda: outcome.append(requests.get(url, timeout=HTTP_TIMEOUT).status_code)
        )
        waiter.start()
        deadline = time.monotonic() + 5
        while srv.sim.total_calls == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
    waiter.join(HTTP_TIMEOUT)
    assert time.monotonic() - started < 5
    assert outcome == [200]


def test_api_keys_never_reach_the_request_log(
    server: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "CG-secretvalue1234567890"
    caplog.set_level(logging.DEBUG, logger="cryptostats_dev")
    response = requests.get(
        f"{server.url}/coins/markets",
        params={"ids": "bitcoin", "vs_currency": "usd"},
        headers={"x-cg-pro-api-key": secret},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200
    assert server.sim.last_key_header == "x-cg-pro-api-key"
    assert server.sim.last_headers["x-cg-pro-api-key"] == "[redacted]"
    get(server, "/coins/markets", vs_currency="usd", x_cg_demo_api_key=secret)
    assert server.sim.last_key_header == "x_cg_demo_api_key"
    assert secret not in repr(server.sim.last_headers) + repr(server.sim.served)
    assert secret not in caplog.text
    assert "/coins/markets" in caplog.text


# --- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_main_serves_until_a_signal_then_exits_0(signum: signal.Signals) -> None:
    port = free_port()
    command = [sys.executable, "-m", "cryptostats_dev.simulator", "--port", str(port)]
    command += ["--seed", "3", "--coins", "10"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ping = requests.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate(timeout=5)
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        assert ping.json() == {"gecko_says": "(V3) To the Moon!"}
        proc.send_signal(signum)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=10)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0, stderr
        assert "SYNTHETIC" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
