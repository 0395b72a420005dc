"""The slow-client fault scenario: hostile connections against a server while a normal client reads.

Slow-header connections send one header line every `TRICKLE_SECONDS` and never finish the
request; idle connections send nothing at all. Whenever the server drops one, it is opened again
at once, so the server faces `slow + idle` hostile connections for the whole run. Meanwhile a
normal client reads at a steady pace and every latency and error is recorded. Run it against the
API directly (gunicorn's threads are held: the normal client times out) and through the proxy
(nginx holds them cheaply: the normal client does not notice). `slow_clients` is the fault
scenario `make faults` runs (`python -m cryptostats_dev.proxy_faults` prints both rows).
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import requests

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.fault_common import Outcome, ScenarioSkipped, covered_by, expect
from cryptostats_dev.lab import Lab, lab_for
from cryptostats_dev.nginx import NginxMissing, nginx_binary
from cryptostats_dev.procs import LOCALHOST, wait_until

TRICKLE_SECONDS = 1.0
"""Seconds between two header lines of a slow-header connection."""

NORMAL_PAUSE_SECONDS = 0.02
"""Pause between two requests of the normal client (about 40 requests a second)."""

NORMAL_TIMEOUT_SECONDS = 5.0
"""How long the normal client waits for one answer before counting an error."""

SCENARIO_SECONDS = 20.0
"""How long the fault scenario holds the hostile connections (each way)."""

P99_LIMIT_MS = 100.0
"""The normal client's p99 through the proxy must stay under this."""

PROXY_TESTS = "tests/integration/test_proxy.py"
"""Runs the same scenario through nginx in `make test`."""


@dataclass
class SlowClientReport:
    """What the normal client saw while the hostile connections were held."""

    target: str
    seconds: float
    slow: int
    idle: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reopened: int = 0

    @property
    def requests(self) -> int:
        """Requests the normal client made."""
        return len(self.latencies_ms) + len(self.errors)

    def percentile(self, share: float) -> float:
        """Latency in ms under which `share` of the successful requests answered."""
        if not self.latencies_ms:
            return float("inf")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("inf")

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99)

    def row(self) -> str:
        """One Markdown table row: target, hostile load, requests, errors, p50, p99, reopened."""
        p50, p99 = (f"{self.p50_ms:.1f}", f"{self.p99_ms:.1f}") if self.latencies_ms else ("-", "-")
        return (
            f"| {self.target} | {self.slow} slow-header + {self.idle} idle, {self.seconds:.0f} s "
            f"| {self.requests} | {len(self.errors)} | {p50} | {p99} | {self.reopened} |"
        )


class HostileConnections:
    """Hold slow-header and idle connections to host:port until stopped, reopening dropped ones."""

    def __init__(self, host: str, port: int, *, slow: int, idle: int) -> None:
        self.host, self.port = host, port
        self.slow = [self._open() for _ in range(slow)]
        self.idle = [self._open() for _ in range(idle)]
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-clients", daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.setblocking(False)
        return sock

    def start(self) -> None:
        """Start the slow-header trickle (a header line per connection per TRICKLE_SECONDS)."""
        for sock in self.slow:
            self._send(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        self._thread.start()

    def _send(self, sock: socket.socket, data: bytes) -> bool:
        try:
            sock.send(data)
        except OSError:
            return False
        return True

    def _dropped(self, sock: socket.socket) -> bool:
        """Whether the server closed the connection or answered it (a 408 before closing)."""
        try:
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def _run(self) -> None:
        counter = 0
        while not self._stop.wait(TRICKLE_SECONDS):
            counter += 1
            for group, is_slow in ((self.slow, True), (self.idle, False)):
                for index, sock in enumerate(group):
                    alive = not self._dropped(sock)
                    if alive and is_slow:
                        alive = self._send(sock, f"X-Trickle-{counter}: 1\r\n".encode())
                    if not alive:
                        sock.close()
                        group[index] = self._reopen(is_slow)

    def _reopen(self, slow: bool) -> socket.socket:
        self.reopened += 1
        sock = self._open()
        if slow:
            self._send(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        return sock

    def stop(self) -> None:
        """Stop trickling and close every connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for sock in self.slow + self.idle:
            sock.close()


def slow_client_scenario(
    base_url: str,
    *,
    paths: Sequence[str] = ("/health", "/api/stats?coin=bitcoin"),
    seconds: float = 20.0,
    slow: int = 50,
    idle: int = 50,
    label: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SlowClientReport:
    """Hold `slow` + `idle` hostile connections to base_url for `seconds` while a client reads."""
    parsed = urlparse(base_url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    report = SlowClientReport(label or base_url, seconds, slow, idle)
    hostile = HostileConnections(host, port, slow=slow, idle=idle)
    hostile.start()
    try:
        with requests.Session() as session:
            deadline = clock() + seconds
            turn = 0
            while clock() < deadline:
                path = paths[turn % len(paths)]
                turn += 1
                _one_request(session, base_url + path, report)
                time.sleep(NORMAL_PAUSE_SECONDS)
    finally:
        hostile.stop()
    report.reopened = hostile.reopened
    return report


def _one_request(session: requests.Session, url: str, report: SlowClientReport) -> None:
    started = time.perf_counter()
    try:
        response = session.get(url, timeout=NORMAL_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        report.errors.append(f"{url}: {type(exc).__name__}")
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        report.errors.append(f"{url}: HTTP {response.status_code}")
    else:
        report.latencies_ms.append(elapsed_ms)


TABLE_HEADER = (
    "| target | hostile connections | normal requests | errors | p50 ms | p99 ms "
    "| hostile reconnects |\n|---|---|---:|---:|---:|---:|---:|"
)
"""Header of the rows SlowClientReport.row() writes."""


def run_scenario(lab: Lab, seconds: float = SCENARIO_SECONDS) -> list[SlowClientReport]:
    """Start the simulator, an API and nginx in lab; run the scenario through nginx, then direct."""
    api = lab.api(lab.simulator(), TRUSTED_PROXIES=LOCALHOST)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").ok, 15, "first data")
    proxy = lab.proxy(api)
    try:
        through = slow_client_scenario(proxy.url, seconds=seconds, label="through nginx")
    finally:
        proxy.cleanup()
    direct = slow_client_scenario(api.url, seconds=seconds, label="API alone (gunicorn)")
    return [through, direct]


@covered_by(PROXY_TESTS)
def slow_clients(lab: Lab) -> Outcome:
    """50 slow-header + 50 idle connections for 20 s, through nginx and to the API alone."""
    try:
        nginx_binary()
    except NginxMissing as exc:
        raise ScenarioSkipped(f"nginx is not installed ({exc})") from None
    through, direct = run_scenario(lab)
    expect(through.requests > 100, f"the normal client made only {through.requests} requests")
    expect(not through.errors, f"errors through nginx: {through.errors[:5]}")
    expect(through.p99_ms < P99_LIMIT_MS, f"p99 through nginx: {through.p99_ms:.1f} ms")
    return Outcome(
        f"{through.slow} slow-header + {through.idle} idle connections for "
        f"{through.seconds:.0f} s, through nginx",
        f"normal client: {through.requests} requests, 0 errors, p50 {through.p50_ms:.1f} ms, "
        f"p99 {through.p99_ms:.1f} ms; {through.reopened} hostile reconnects. API alone: "
        f"{len(direct.errors)} of {direct.requests} requests failed",
    )


def main() -> int:
    """Print the slow-client table: through the proxy, then the API alone."""
    logs = Path(tempfile.mkdtemp(prefix="cryptostats-proxy-faults-"))
    with RedisServer() as broker, lab_for(broker, logs) as lab:
        reports = run_scenario(lab)
    print(TABLE_HEADER)
    for report in reports:
        print(report.row())
    through = reports[0]
    return 0 if not through.errors and through.p99_ms < P99_LIMIT_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
