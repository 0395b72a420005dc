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
from contextlib import contextmanager
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


@contextmanager
def simulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run `python -m cryptostats_dev.simulator` on a free port until it answers /ping."""
    port = free_port()
    command = [sys.executable, "-m", "cryptostats_dev.simulator", "--port", str(port), *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/ping", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate(timeout=5)
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_main_serves_until_a_signal_then_exits_0(signum: signal.Signals) -> None:
    with simulator_process("--seed", "3", "--coins", "10") as (proc, url):
        ping = requests.get(f"{url}/ping", timeout=HTTP_TIMEOUT)
        assert ping.json() == {"gecko_says": "(V3) To the Moon!"}
        proc.send_signal(signum)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=10)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0, stderr
        assert "SYNTHETIC" in stderr


def test_main_applies_the_rate_limit_flag() -> None:
    with simulator_process("--coins", "0", "--rate-limit", "1") as (_, url):
        shown = requests.get(f"{url}/_sim/rate_limit", timeout=HTTP_TIMEOUT).json()
        assert shown == {"rate_limit": {"per_minute": 1, "headers": "reset"}}
        params = {"vs_currency": "usd", "ids": "bitcoin"}
        # three calls a few ms apart cross at most one minute boundary: one is refused
        answers = [
            requests.get(f"{url}/coins/markets", params=params, timeout=HTTP_TIMEOUT)
            for _ in range(3)
        ]
        refused = [a for a in answers if a.status_code == 429]
        assert refused and {a.status_code for a in answers} == {200, 429}
        assert refused[0].headers["x-ratelimit-remaining"] == "0"
        assert refused[0].json()["status"]["error_code"] == 429


def test_charts_over_http_with_a_pro_key(server: SimulatorServer) -> None:
    url = f"{server.url}/coins/solana/market_chart"
    params = {"vs_currency": "usd", "days": "max"}
    keyless = requests.get(url, params=params, timeout=HTTP_TIMEOUT)
    assert keyless.status_code == 401
    pro = requests.get(url, params=params, headers={"x-cg-pro-api-key": "k"}, timeout=HTTP_TIMEOUT)
    assert pro.status_code == 200
    prices = pro.json()["prices"]
    assert len(prices) > 365 * 5
    assert server.sim.served[-1]["chart"]["points"] == len(prices)
