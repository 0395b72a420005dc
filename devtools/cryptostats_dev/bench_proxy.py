"""`make bench` rows through the proxy: the read endpoints via nginx against the API alone.

Starts redis-server, the simulator and the API with the production gunicorn config (embedded
store: one process with threads), pinned to core 0, and Debian's nginx from deploy/nginx's
template on the same core; wrk runs on the other cores. Each read endpoint is measured directly
and through the proxy in the same run, while a checker compares every answer the proxy gives
with what the API serves (an update trigger is published midway, so the answers must follow it).
`--matrix` measures `/health` through the proxy for several gunicorn worker classes and counts
instead (the figures behind docs/DEPLOY.md's choice). Writes its own section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.lab import Api, Lab
from cryptostats_dev.nginx import NginxProxy
from cryptostats_dev.procs import LOCALHOST, python_module_cmd, wait_until

ROOT = Path(__file__).resolve().parents[2]
"""The repository root, where BENCHMARKS.md lives."""

SECTION_START = "<!-- bench_proxy:start -->"
SECTION_END = "<!-- bench_proxy:end -->"
"""Markers of this module's section in BENCHMARKS.md (replaced on every run)."""

BENCH_ENV: dict[str, str | None] = {
    "INGEST_CLAIM_SECONDS": "0.2",
    "LOG_LEVEL": "WARNING",
    "TRUSTED_PROXIES": LOCALHOST,
}
"""What the bench's API processes set on top of the lab's environment."""

ENDPOINTS = ("/api/stats?coin=bitcoin", "/api/deviation?coin=bitcoin")
"""The read endpoints measured."""

TARGET_SPEEDUP = 5.0
TARGET_P99_MS = 5.0
"""Targets: req/s through the proxy at least 5x the API alone's, p99 under 5 ms."""

MATRIX = (
    ("gthread (production)", "api_server.gunicorn_worker.JsonErrorThreadWorker", 1, 4),
    ("gthread", "api_server.gunicorn_worker.JsonErrorThreadWorker", 2, 4),
    ("gthread", "api_server.gunicorn_worker.JsonErrorThreadWorker", 2, 1),
    ("sync", "sync", 1, 1),
    ("sync", "sync", 2, 1),
    ("sync", "sync", 4, 1),
)
"""(label, worker class, processes, threads) measured by --matrix."""


@dataclass(frozen=True)
class Wrk:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    bad: int


@dataclass
class Row:
    """One endpoint measured directly and through the proxy."""

    endpoint: str
    direct: Wrk
    proxied: Wrk
    checked: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.proxied.rps / self.direct.rps if self.direct.rps else float("inf")

    @property
    def met(self) -> bool:
        return (
            self.speedup >= TARGET_SPEEDUP
            and self.proxied.p99_ms < TARGET_P99_MS
            and not self.wrong
            and self.proxied.bad == 0
            and self.checked > 0
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> Wrk:
    """Read req/s, p50 and p99 and the non-2xx/3xx count from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Wrk(
        rps=float(rps.group(1)),
        p50_ms=float(p50.group(1)) * _UNITS[p50.group(2)],
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        bad=int(bad.group(1)) if bad else 0,
    )


def on_cores(cmd: list[str], cores: str) -> list[str]:
    """Run cmd on these cores when taskset exists and the machine has 2 cores or more."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return cmd
    return ["taskset", "-c", cores, *cmd]


def run_wrk(url: str, seconds: int, connections: int) -> Wrk:
    """Run wrk (2 threads) on the load cores against url."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: run `sudo make system-deps`")
    load_cores = f"1-{(os.cpu_count() or 2) - 1}"
    cmd = on_cores([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url], load_cores)
    print(f"  $ wrk -t2 -c{connections} -d{seconds}s --latency {url}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


class Stack:
    """redis-server, the simulator, API processes and nginx on core 0, in one `Lab`."""

    def __init__(self, logs: Path) -> None:
        self.redis = RedisServer(log_path=logs / "redis.log")
        self.lab = Lab(self.redis.url, logs, redis_server=self.redis, defaults=BENCH_ENV)
        try:
            self.sim = self.lab.simulator()
        except BaseException:
            self.close()
            raise
        self._apis = 0

    def api(self, extra_args: Sequence[str] = ()) -> Api:
        """Start the API under gunicorn on core 0 and return it once it has data."""
        self._apis += 1
        cmd = python_module_cmd("gunicorn", "--config", "python:api_server.gunicorn_conf")
        api = self.lab.api(
            self.sim, f"api-{self._apis}", cmd=on_cores([*cmd, *extra_args], "0"), timeout=30
        )
        wait_until(lambda: api.get(ENDPOINTS[0], timeout=5).ok, 30, "first data")
        return api

    def proxy(self, api: Api) -> NginxProxy:
        """Start nginx (one worker) on the API's core, in front of it."""
        return self.lab.proxy(api, wrap=lambda cmd: on_cores(cmd, "0"))

    def publish(self) -> None:
        """Publish one update trigger on the default channel."""
        self.lab.publish()

    def close(self) -> None:
        self.lab.close()
        self.redis.cleanup()


def check_answers(
    direct_url: str, proxied_url: str, stop: threading.Event, row: Row, interval: float = 0.05
) -> None:
    """Until stop: compare the proxy's answer with the API's current or previous one."""
    history: list[str] = []
    with requests.Session() as direct, requests.Session() as proxied:
        while not stop.wait(interval):
            current = direct.get(direct_url, timeout=5).text
            if not history or history[-1] != current:
                history.append(current)
            answer = proxied.get(proxied_url, timeout=5).text
            if answer not in history[-2:]:  # the API may have ingested since we asked it
                history.append(direct.get(direct_url, timeout=5).text)
            row.checked += 1
            if answer not in history[-2:]:
                row.wrong.append(answer)


def measure_endpoints(stack: Stack, seconds: int, connections: int) -> list[Row]:
    """Measure each read endpoint directly and through the proxy, checking the proxy's answers."""
    api = stack.api()
    api_url = api.url
    proxy = stack.proxy(api)
    rows = []
    try:
        for endpoint in ENDPOINTS:
            direct = run_wrk(api_url + endpoint, seconds, connections)
            row = Row(endpoint, direct, direct)
            stop = threading.Event()
            checker = threading.Thread(
                target=check_answers, args=(api_url + endpoint, proxy.url + endpoint, stop, row)
            )
            checker.start()
            # A key's first miss makes concurrent requests wait on the cache lock (nginx polls it
            # every 500 ms): once per key in the proxy's life, so warm it as a crowd would find it.
            requests.get(proxy.url + endpoint, timeout=5).raise_for_status()
            trigger = threading.Timer(seconds / 2, stack.publish)
            trigger.start()
            try:
                row.proxied = run_wrk(proxy.url + endpoint, seconds, connections)
            finally:
                trigger.cancel()
                stop.set()
                checker.join(timeout=10)
            rows.append(row)
    finally:
        proxy.cleanup()
    return rows


def measure_matrix(stack: Stack, seconds: int, connections: int) -> list[tuple[str, Wrk, Wrk]]:
    """Measure /health directly and through the proxy for each gunicorn configuration."""
    results = []
    for label, worker_class, processes, threads in MATRIX:
        args = ["--worker-class", worker_class, "--workers", str(processes)]
        args += ["--threads", str(threads)]
        api = stack.api(args)
        proxy = stack.proxy(api)
        try:
            direct = run_wrk(f"{api.url}/health", seconds, connections)
            proxied = run_wrk(f"{proxy.url}/health", seconds, connections)
        finally:
            proxy.cleanup()
            api.process.stop()
        results.append((f"{label} {processes}x{threads}", direct, proxied))
    return results


def render(rows: list[Row], matrix: list[tuple[str, Wrk, Wrk]], seconds: int, conns: int) -> str:
    """Return this module's Markdown section."""
    lines = [
        SECTION_START,
        "## Through the proxy (`python -m cryptostats_dev.bench_proxy`)",
        "",
        f"nginx (deploy/nginx template, 1 worker) and the API share core 0; wrk -t2 -c{conns} "
        f"-d{seconds}s runs on the other cores. Targets: through the proxy at least "
        f"{TARGET_SPEEDUP:g}x the API alone's req/s, p99 under {TARGET_P99_MS:g} ms, every answer "
        "the API's current or previous one (a trigger is published midway through each run). "
        f"Load average at the end: {_load()} on {os.cpu_count()} cores (other jobs on a shared "
        "machine inflate p99).",
        "",
        "| endpoint | API alone req/s | p99 ms | via proxy req/s | p99 ms | speedup "
        "| answers checked | wrong | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row.endpoint}` | {row.direct.rps:,.0f} | {row.direct.p99_ms:.2f} "
            f"| {row.proxied.rps:,.0f} | {row.proxied.p99_ms:.2f} | {row.speedup:.1f}x "
            f"| {row.checked} | {len(row.wrong)} | {'met' if row.met else 'MISSED'} |"
        )
    if matrix:
        lines += [
            "",
            "`/health` (never cached) by gunicorn worker class and processes x threads:",
            "",
            "| gunicorn | API alone req/s | p99 ms | via proxy req/s | p99 ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, direct, proxied in matrix:
            lines.append(
                f"| {label} | {direct.rps:,.0f} | {direct.p99_ms:.2f} "
                f"| {proxied.rps:,.0f} | {proxied.p99_ms:.2f} |"
            )
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def write_section(section: str, path: Path) -> None:
    """Replace this module's section of path, or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(SECTION_START) + ".*?" + re.escape(SECTION_END) + "\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy rows (and the worker matrix with --matrix); print and write them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--matrix", action="store_true", help="also measure worker classes")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="'-' for none")
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="cryptostats-bench-proxy-"))
    stack = Stack(logs)
    try:
        rows = measure_endpoints(stack, args.duration, args.connections)
        matrix = measure_matrix(stack, args.duration, args.connections) if args.matrix else []
    finally:
        stack.close()
    section = render(rows, matrix, args.duration, args.connections)
    print(section)
    if args.output != "-":
        write_section(section, Path(args.output))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
