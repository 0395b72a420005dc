"""`make bench`: drive the real stack with wrk, time trigger-to-served, count upstream calls.

Starts a redis-server on a free port, the CoinGecko simulator, then per history round (100 and
100,000 records per coin by default) the worker and the API under gunicorn with the production
config (embedded store: one process with threads). It runs wrk on loopback against `/health`
(the baseline: a constant JSON body through the same app and middleware), `/api/stats` and
`/api/deviation`, publishes update triggers and times them until their price is served, and
counts upstream calls per trigger for 3 and for 1,000 tracked coins. It prints one table and
writes the generated report (bench_report.py) to BENCHMARKS.md. The run's processes are a `Lab`.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
import requests

from cryptostats.messages import UpdateTrigger, heartbeat_key
from cryptostats_dev.bench_app import HISTORY_ENV
from cryptostats_dev.bench_report import render_tables, report, verdicts
from cryptostats_dev.bench_results import (
    CLAIM_SECONDS,
    ENDPOINTS,
    POLL_INTERVAL,
    PROBE_COIN,
    SERVE_TIMEOUT,
    START_TIMEOUT,
    TRIGGER_GAP,
    Config,
    IngestTiming,
    Results,
    Throughput,
    WrkResult,
)
from cryptostats_dev.bench_wrk import ensure_wrk, pinned, run_wrk
from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import ManagedProcess, python_module_cmd, wait_until

# ---------------------------------------------------------------------------------- stack


class BenchStack:
    """The bench's lab: one redis-server and the simulator, then API and worker rounds."""

    def __init__(self, logs: Path, results: Results) -> None:
        self.results = results
        self.redis = RedisServer(log_path=logs / "redis-server.log")
        defaults = {"INGEST_CLAIM_SECONDS": str(CLAIM_SECONDS), "LOG_LEVEL": "WARNING"}
        self.lab = Lab(
            self.redis.url, logs, redis_server=self.redis, defaults=defaults, on_start=self._record
        )
        self.sim = self.lab.simulator(7, "--log-level", "WARNING")
        self.sim_url = self.sim.url
        self.http = requests.Session()

    def _record(self, process: ManagedProcess) -> None:
        self.results.commands.append(_shown_command(process.name, process.cmd, process.env))

    def env(self, channel: str, coins: str | None, extra: dict[str, str]) -> dict[str, str | None]:
        """Return what a round sets on top of the lab's environment."""
        return {"REDIS_CHANNEL": channel, "COINS": coins, **extra}

    def start_round(
        self, name: str, api_cmd: list[str], env: dict[str, str | None]
    ) -> tuple[ManagedProcess, ManagedProcess, str]:
        """Start the API and the worker; return them and the API's URL once it answers."""
        cmd = pinned(api_cmd, "api")
        api = self.lab.api(self.sim, f"api-{name}", cmd=cmd, timeout=START_TIMEOUT, env=env)
        worker = self.lab.worker(f"worker-{name}", **env)
        self.wait_for_heartbeat(str(env["REDIS_CHANNEL"]), worker)
        self.settle()
        return api.process, worker, api.url

    def wait_for_heartbeat(self, channel: str, worker: ManagedProcess) -> None:
        """Wait for the worker's first heartbeat, written just after its start-up trigger."""

        def written() -> bool:
            if not worker.alive:
                raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")
            return bool(self.lab.client.exists(heartbeat_key(channel)))

        wait_until(written, START_TIMEOUT, f"the worker's heartbeat on {channel!r}")

    def settle(self, quiet: float = 1.0, timeout: float = SERVE_TIMEOUT) -> None:
        """Wait until the start-up fetches (catch-up, the worker's first trigger) are over."""
        deadline = time.monotonic() + timeout
        last, since = self.sim_calls(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            calls = self.sim_calls()
            if calls != last:
                last, since = calls, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise TimeoutError("the simulator kept receiving calls; the stack did not settle")

    def sim_calls(self) -> int:
        return int(self.http.get(f"{self.sim_url}/_sim/calls", timeout=5).json()["total"])

    def sim_served_price(self, upstream_id: str) -> float | None:
        served = self.http.get(f"{self.sim_url}/_sim/served", timeout=5).json()
        for entry in reversed(served):
            if entry["path"] == "/coins/markets" and upstream_id in entry["coins"]:
                return float(entry["coins"][upstream_id]["current_price"])
        return None

    def stop_all(self) -> None:
        self.lab.close()
        self.redis.cleanup()


def _shown_command(name: str, cmd: list[str], env: dict[str, str | None]) -> str:
    shown_env = {
        k: v
        for k, v in env.items()
        if v is not None and k not in {"REDIS_URL", "COINGECKO_API_URL", "API_PORT"}
    }
    if "COINS" in shown_env and len(shown_env["COINS"] or "") > 80:
        count = len((shown_env["COINS"] or "").split(","))
        shown_env["COINS"] = f"<{count} coins: sim-coin-0001..sim-coin-{count:04d}>"
    parts = [f"{k}={shlex.quote(v)}" for k, v in sorted(shown_env.items())]
    argv = ["python" if part == sys.executable else part for part in cmd]
    return f"{name}: {' '.join(parts)} {shlex.join(argv)}".strip()


def price_of(http: requests.Session, url: str, coin: str) -> float | None:
    """Return the price /api/stats serves for a coin, or None before it has data."""
    response = http.get(f"{url}/api/stats", params={"coin": coin}, timeout=5)
    if response.status_code != 200:
        return None
    return float(response.json()["price"])


def wait_for_price(http: requests.Session, url: str, coin: str, timeout: float) -> float:
    """Wait until the API serves a price for a coin and return it."""
    price: float = wait_until(lambda: price_of(http, url, coin), timeout, f"a price of {coin}")
    return price


def measure_ingest(
    stack: BenchStack,
    url: str,
    timing: IngestTiming,
    triggers: int,
    channel: str,
    probe: tuple[str, str],
) -> None:
    """Publish triggers one by one; time each until its price is served, count upstream calls."""
    coin, upstream_id = probe
    publisher = redis.Redis.from_url(stack.redis.url)
    http = requests.Session()
    # A trigger within the claim window of the ingest that served `before` (the start-up catch-up
    # just now, with many coins) is coalesced into it by design: start after that window.
    time.sleep(CLAIM_SECONDS + 0.05)
    try:
        for n in range(triggers):
            before = wait_for_price(http, url, coin, SERVE_TIMEOUT)
            calls_before = stack.sim_calls()
            published = time.perf_counter()
            publisher.publish(channel, UpdateTrigger().encode())
            served = _poll_until_changed(http, url, coin, before, published)
            timing.served_ms.append((served - published) * 1000)
            now_price = price_of(http, url, coin)
            if now_price != stack.sim_served_price(upstream_id):
                timing.mismatches += 1
            time.sleep(max(TRIGGER_GAP, CLAIM_SECONDS + 0.05 - (time.perf_counter() - served)))
            timing.calls.append(stack.sim_calls() - calls_before)
            print(
                f"    trigger {n + 1}/{triggers}: served after {timing.served_ms[-1]:.1f} ms, "
                f"{timing.calls[-1]} upstream call(s)",
                flush=True,
            )
    finally:
        publisher.close()


def _poll_until_changed(
    http: requests.Session, url: str, coin: str, before: float, published: float
) -> float:
    while time.perf_counter() - published < SERVE_TIMEOUT:
        if price_of(http, url, coin) != before:
            return time.perf_counter()
        time.sleep(POLL_INTERVAL)
    raise TimeoutError(f"the trigger's price for {coin} was not served within {SERVE_TIMEOUT} s")


# ---------------------------------------------------------------------------------- rounds


def _run_row(stack: BenchStack, wrk: str, url: str, path: str, config: Config) -> WrkResult:
    """Run wrk on a row; a `#304` path is revalidated with the ETag the API gave just now."""
    if not path.endswith("#304"):
        return run_wrk(wrk, url + path, config)
    target = url + path.removesuffix("#304")
    etag = stack.http.get(target, timeout=5).headers["ETag"]
    return run_wrk(wrk, target, config, headers={"If-None-Match": etag})


def history_round(stack: BenchStack, wrk: str, history: int, results: Results) -> None:
    """One round: the API with `history` records per coin, driven by wrk, then triggered."""
    config = results.config
    name = f"history-{history}"
    channel = f"bench.{name}"
    print(f"\n== round: {history:,} records per coin ==", flush=True)
    api_cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:api_server.gunicorn_conf",
        "cryptostats_dev.bench_app:create_app()",
    ]
    env = stack.env(channel, None, {HISTORY_ENV: str(history)})
    started = time.monotonic()
    api, worker, url = stack.start_round(name, api_cmd, env)
    print(f"  API up after {time.monotonic() - started:.1f} s (history loaded)", flush=True)
    wait_for_price(stack.http, url, PROBE_COIN, SERVE_TIMEOUT)
    run_wrk(wrk, url + ENDPOINTS[1][1], config, duration=min(2, config.duration))  # warm-up
    rows = [Throughput(label, path, history) for label, path in ENDPOINTS]
    for n in range(config.passes):
        for row in rows[n % len(rows) :] + rows[: n % len(rows)]:  # rotate to even out order
            row.runs.append(_run_row(stack, wrk, url, row.path, config))
    results.throughput.extend(rows)
    print(f"  ingest: {config.triggers} triggers", flush=True)
    timing = IngestTiming(coins=3, history=history)
    measure_ingest(stack, url, timing, config.triggers, channel, (PROBE_COIN, PROBE_COIN))
    results.ingest.append(timing)
    worker.stop()
    api.stop()


def many_coins_round(stack: BenchStack, results: Results) -> None:
    """The production API tracking many coins: upstream calls and time per trigger."""
    config = results.config
    coins = config.many_coins
    names = [f"sim-coin-{n:04d}" for n in range(1, coins + 1)]
    channel = f"bench.coins-{coins}"
    print(f"\n== round: {coins:,} tracked coins ==", flush=True)
    env = stack.env(channel, ",".join(names), {})
    api, worker, url = stack.start_round(f"coins-{coins}", python_module_cmd("api_server"), env)
    wait_for_price(stack.http, url, names[-1], SERVE_TIMEOUT)
    timing = IngestTiming(coins=coins, history=0)
    measure_ingest(stack, url, timing, config.many_triggers, channel, (names[-1], names[-1]))
    results.ingest.append(timing)
    worker.stop()
    api.stop()


ALERT_ADMIN_KEY = "bench-alerts-admin-key-0123456789abcdef"
ALERTS_PER_TRIGGER = 1000


def alerts_round(stack: BenchStack, results: Results) -> None:
    """1,000 alerts on the probe coin crossing at each trigger: the new price is served fast."""
    channel = "bench.alerts"
    print(f"\n== round: {ALERTS_PER_TRIGGER:,} alerts crossing at once ==", flush=True)
    env = stack.env(channel, None, {"ADMIN_API_KEY": ALERT_ADMIN_KEY, "RATE_LIMIT_WRITES": "off"})
    api, worker, url = stack.start_round("alerts", python_module_cmd("api_server"), env)
    timing = IngestTiming(coins=3, history=0, alerts=ALERTS_PER_TRIGGER)
    for _ in range(results.config.triggers):
        price = wait_for_price(stack.http, url, PROBE_COIN, SERVE_TIMEOUT)
        create_crossing_alerts(stack.http, url, price / 2)
        measure_ingest(stack, url, timing, 1, channel, (PROBE_COIN, PROBE_COIN))
    results.ingest.append(timing)
    worker.stop()
    api.stop()


def create_crossing_alerts(http: requests.Session, url: str, threshold: float) -> None:
    """Create ALERTS_PER_TRIGGER armed alerts above `threshold` (100 per key, new keys)."""
    admin = {"Authorization": f"Bearer {ALERT_ADMIN_KEY}"}
    for _ in range(ALERTS_PER_TRIGGER // 100):
        key = http.post(f"{url}/api/keys", json={"name": "bench"}, headers=admin, timeout=10)
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        for _ in range(100):
            body: dict[str, str | float] = {"coin": PROBE_COIN, "above": threshold}
            resp = http.post(f"{url}/api/alerts", json=body, headers=headers, timeout=10)
            resp.raise_for_status()


def run(config: Config) -> Results:
    """Run every round and return the results."""
    wrk = ensure_wrk()
    results = Results(config)
    logs = Path(tempfile.mkdtemp(prefix="cryptostats-bench-"))
    print(f"process logs: {logs}", flush=True)
    stack = BenchStack(logs, results)
    try:
        for history in config.histories:
            history_round(stack, wrk, history, results)
        many_coins_round(stack, results)
        alerts_round(stack, results)
    finally:
        stack.stop_all()
    return results


def _parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m cryptostats_dev.bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny configuration: 1 s wrk runs, 100 and 1,000 records, 3 triggers, 300 coins",
    )
    parser.add_argument("--histories", help="records per coin per round, e.g. 100,100000")
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--threads", type=int, help="wrk threads")
    parser.add_argument("--passes", type=int, help="wrk runs per endpoint and round")
    parser.add_argument("--triggers", type=int, help="triggers per history round")
    parser.add_argument("--many-coins", type=int, help="tracked coins of the upstream-calls round")
    parser.add_argument(
        "--output",
        help="where to write the report (default BENCHMARKS.md at the repo root; '-' for none)",
    )
    args = parser.parse_args(argv)
    base = Config()
    if args.quick:
        base = Config(
            histories=(100, 1000),
            duration=1,
            passes=1,
            triggers=3,
            many_coins=300,
            many_triggers=2,
            output=None,
            quick=True,
        )
    overrides: dict[str, Any] = {
        key: getattr(args, key)
        for key in ("duration", "connections", "threads", "passes", "triggers", "many_coins")
        if getattr(args, key) is not None
    }
    if args.histories:
        overrides["histories"] = tuple(int(h) for h in args.histories.split(","))
    if args.output is not None:
        overrides["output"] = None if args.output == "-" else Path(args.output)
    return _replace(base, overrides)


def _replace(config: Config, overrides: dict[str, Any]) -> Config:
    return dataclasses.replace(config, **overrides)


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    """Run the benchmark, print the table and write the report."""
    config = _parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every process the bench started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    results = run(config)
    out("\n" + render_tables(results) + "\n")
    out("\n".join(verdicts(results)))
    if config.output is not None:
        config.output.write_text(report(results), encoding="utf-8")
        out(f"\nwrote {config.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
