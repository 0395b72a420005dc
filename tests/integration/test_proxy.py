"""Debian's nginx, configured from deploy/nginx's template, in front of real API processes."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.nginx import NginxMissing, NginxProxy, nginx_binary, placeholders
from cryptostats_dev.procs import LOCALHOST, free_port, wait_until
from cryptostats_dev.proxy_faults import slow_client_scenario

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

FRESHNESS_SECONDS = 2.0
"""The proxy keeps a read answer at most this long: `proxy_cache_valid 200 1s` in the template,
which nginx counts in whole seconds (valid through the second after the one it was stored in)."""


@pytest.fixture(scope="module", autouse=True)
def _needs_nginx() -> None:
    try:
        nginx_binary()
    except NginxMissing as exc:
        pytest.skip(f"nginx is not installed ({exc})")


@pytest.fixture
def proxy_factory() -> Iterator[list[NginxProxy]]:
    started: list[NginxProxy] = []
    yield started
    for proxy in started:
        proxy.cleanup()


def start_proxy(started: list[NginxProxy], upstream: str, **options: object) -> NginxProxy:
    proxy = NginxProxy(upstream, start=False, **options)  # type: ignore[arg-type]
    started.append(proxy)
    return proxy.start()


@pytest.fixture
def api_and_sim(stack: Lab) -> tuple[Api, SimulatorProcess]:
    sim = stack.simulator()
    api = stack.api(sim, TRUSTED_PROXIES=LOCALHOST)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    return api, sim


@pytest.fixture
def proxied(
    api_and_sim: tuple[Api, SimulatorProcess], proxy_factory: list[NginxProxy]
) -> tuple[Api, NginxProxy]:
    api, _ = api_and_sim
    return api, start_proxy(proxy_factory, api.url.removeprefix("http://"))


class SilentUpstream:
    """A TCP server that accepts connections and never answers: a hung API."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOCALHOST, 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_upstream() -> Iterator[SilentUpstream]:
    upstream = SilentUpstream()
    yield upstream
    upstream.close()


def api_requests(api: Api, endpoint: str, status: str) -> float:
    """The API's own count of requests to endpoint answered with status (its /metrics)."""
    total = 0.0
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("cryptostats_http_requests_total{") and f'endpoint="{endpoint}"' in line:
            if f'status="{status}"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_nginx_accepts_the_configuration(proxy_factory: list[NginxProxy]) -> None:
    proxy = NginxProxy(f"{LOCALHOST}:{free_port()}", start=False)
    proxy_factory.append(proxy)
    outcome = proxy.check()
    assert outcome.returncode == 0, outcome.stderr


def test_nginx_accepts_the_configuration_compose_renders(proxy_factory: list[NginxProxy]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        for name, value in compose["services"]["proxy"]["environment"].items()
    }
    # What cannot exist here keeps the test's values: the upstream's name, the container's paths
    # and port (nginx -t would create a missing cache folder on this machine).
    local = {"API_UPSTREAM", "STATIC_ROOT", "PROXY_CACHE_DIR", "PROXY_LISTEN_PORT"}
    from_compose = {name: env[name] for name in placeholders() - local}
    proxy = NginxProxy(f"{LOCALHOST}:{free_port()}", start=False, overrides=from_compose)
    proxy_factory.append(proxy)
    assert proxy.values["PROXY_READ_TIMEOUT"] == "15s"
    assert proxy.values["PROXY_CONN_PER_CLIENT"] == "64"
    outcome = proxy.check()
    assert outcome.returncode == 0, outcome.stderr


def test_reads_and_the_dashboard_go_through_the_proxy(proxied: tuple[Api, NginxProxy]) -> None:
    api, proxy = proxied
    through = requests.get(f"{proxy.url}/api/stats?coin=bitcoin", timeout=5)
    assert through.status_code == 200
    assert through.json() == api.stats("bitcoin")
    assert through.headers["ETag"] and "max-age" in through.headers["Cache-Control"]
    page = requests.get(f"{proxy.url}/", timeout=5)
    assert page.status_code == 200 and "<html" in page.text.lower()
    css = requests.get(f"{proxy.url}/static/dashboard.css", timeout=5)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "max-age=3600" in css.headers["Cache-Control"]
    assert (
        css.content
        == (Path(__file__).parents[2] / "api-server/api_server/static/dashboard.css").read_bytes()
    )


def test_a_crowd_costs_the_api_one_request_per_freshness_window(
    proxied: tuple[Api, NginxProxy],
) -> None:
    api, proxy = proxied
    url = f"{proxy.url}/api/deviation?coin=ethereum"
    before = api_requests(api, "/api/deviation", "200")
    with requests.Session() as session:
        bodies = {session.get(url, timeout=5).text for _ in range(200)}
    hits = api_requests(api, "/api/deviation", "200") - before
    assert len(bodies) == 1
    # 200 requests within a few freshness windows: a handful reach the API, not 200.
    assert 1 <= hits <= 10, hits
    # After the window the proxy revalidates with If-None-Match and the API answers 304.
    time.sleep(FRESHNESS_SECONDS + 0.2)
    revalidations = api_requests(api, "/api/deviation", "304")
    again = requests.get(url, timeout=5)
    assert again.status_code == 200 and again.text in bodies
    assert again.headers["X-Cache-Status"] == "REVALIDATED"
    assert api_requests(api, "/api/deviation", "304") == revalidations + 1


def test_a_new_ingest_is_served_by_the_proxy_within_the_window(
    stack: Lab, api_and_sim: tuple[Api, SimulatorProcess], proxy_factory: list[NginxProxy]
) -> None:
    api, _ = api_and_sim
    proxy = start_proxy(proxy_factory, api.url.removeprefix("http://"))
    url = f"{proxy.url}/api/stats?coin=bitcoin"
    old = requests.get(url, timeout=5).json()
    assert requests.get(url, timeout=5).headers["X-Cache-Status"] == "HIT"
    time.sleep(0.6)  # past the ingest claim window of the lab's API
    assert stack.publish() == 1
    new = wait_until(
        lambda: (body := api.stats("bitcoin")) != old and body, 15, "the API to serve a new price"
    )
    seen_new_at = time.monotonic()
    wait_until(lambda: requests.get(url, timeout=5).json() == new, 5, "the proxy's new price")
    lag = time.monotonic() - seen_new_at
    assert lag <= FRESHNESS_SECONDS + 0.5, f"the proxy served the old price {lag:.2f} s longer"


def test_slow_and_idle_clients_do_not_starve_a_normal_one(proxied: tuple[Api, NginxProxy]) -> None:
    _, proxy = proxied
    report = slow_client_scenario(proxy.url, seconds=20, slow=50, idle=50, label="proxy")
    assert report.requests > 100
    assert report.errors == []
    assert report.p99_ms < 100, report.row()
    assert "worker_connections are not enough" not in proxy.error_log()


def test_the_same_clients_starve_the_api_alone(api_and_sim: tuple[Api, SimulatorProcess]) -> None:
    # The scenario bites: without the proxy, a few slow clients hold gunicorn's 4 threads.
    api, _ = api_and_sim
    report = slow_client_scenario(api.url, paths=("/health",), seconds=6, slow=8, idle=0)
    assert report.errors, report.row()


def test_the_client_cannot_pick_the_address_the_api_logs(
    proxied: tuple[Api, NginxProxy],
) -> None:
    api, proxy = proxied
    requests.get(f"{proxy.url}/health", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=5)
    wait_until(lambda: '"path": "/health"' in api.process.log_text(), 5, "the access line")
    lines = [line for line in api.process.log_text().splitlines() if '"path": "/health"' in line]
    assert '"client": "127.0.0.1"' in lines[-1]
    assert "203.0.113.9" not in api.process.log_text()


def test_the_api_stopped_gives_a_json_502(proxied: tuple[Api, NginxProxy]) -> None:
    api, proxy = proxied
    api.process.stop()
    response = requests.get(f"{proxy.url}/health", timeout=5)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    assert "unavailable" in response.json()["error"]


def test_a_hung_api_gives_a_json_504(
    silent_upstream: SilentUpstream, proxy_factory: list[NginxProxy]
) -> None:
    proxy = start_proxy(proxy_factory, f"{LOCALHOST}:{silent_upstream.port}", read_timeout="1s")
    started = time.monotonic()
    response = requests.get(f"{proxy.url}/api/stats?coin=bitcoin", timeout=10)
    assert response.status_code == 504
    assert response.json() == {"error": "the API did not answer in time"}
    assert time.monotonic() - started < 5


def test_connections_over_the_per_client_limit_get_a_json_429(
    silent_upstream: SilentUpstream, proxy_factory: list[NginxProxy]
) -> None:
    proxy = start_proxy(
        proxy_factory, f"{LOCALHOST}:{silent_upstream.port}", read_timeout="3s", conn_per_client=1
    )
    hung = threading.Thread(
        target=lambda: requests.get(f"{proxy.url}/health", timeout=10), daemon=True
    )
    hung.start()
    wait_until(lambda: silent_upstream.accepted, 5, "the first request to reach the upstream")
    response = requests.get(f"{proxy.url}/health", timeout=5)
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in response.json()
    hung.join(timeout=10)


def test_a_large_body_gets_a_json_413(proxied: tuple[Api, NginxProxy]) -> None:
    _, proxy = proxied
    response = requests.post(f"{proxy.url}/api/ask", data=b"x" * 10_000, timeout=5)
    assert response.status_code == 413
    assert response.json() == {"error": "request body too large"}
