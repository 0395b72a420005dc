"""The lab of real processes that integration tests, fault scenarios and the bench run.

One `Lab` runs, against one redis-server it is given, the CoinGecko simulator, API processes
(`python -m api_server`, or another command such as the bench's gunicorn app) and workers
(`python -m worker_server`), each with its own log file, and stops them all on `close()`.
`SimulatorProcess` and `Api` wrap what a caller asks of those processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

from cryptostats.messages import UpdateTrigger
from cryptostats_dev.procs import (
    LOCALHOST,
    ManagedProcess,
    RedisServer,
    free_port,
    python_module_cmd,
    wait_for_http,
)

START_TIMEOUT = 20.0
"""Seconds a process gets to start answering."""

CHANNEL = "crypto.update"
"""The default channel, which the lab's processes use."""

LAB_ENV: dict[str, str | None] = {
    "MONGO_URI": None,
    "COINGECKO_API_KEY": None,
    "COINS": None,
    "REDIS_CHANNEL": None,
    "UPDATE_INTERVAL_SECONDS": "3600",
    "INGEST_CLAIM_SECONDS": "0.5",
    "LOG_LEVEL": "INFO",
}
"""The environment of every lab process, before the caller's own (None: unset)."""

StartHook = Callable[[str, Sequence[str], Mapping[str, str | None]], None]


@dataclass
class SimulatorProcess:
    """The CoinGecko simulator process and its /_sim/ control API."""

    process: ManagedProcess
    url: str

    def served(self) -> list[dict[str, Any]]:
        """Every data call served so far, with its status and values."""
        return list(requests.get(f"{self.url}/_sim/served", timeout=5).json())

    def markets(self) -> list[dict[str, Any]]:
        """The `/coins/markets` calls served so far, with their status and values."""
        return [entry for entry in self.served() if entry["path"] == "/coins/markets"]

    def total_calls(self) -> int:
        """How many data calls the simulator received."""
        return int(requests.get(f"{self.url}/_sim/calls", timeout=5).json()["total"])

    def reset(self) -> None:
        """Clear counts, the served log and any fault."""
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()

    def fault(self, mode: str, **opts: Any) -> None:
        """Switch a fault mode on (see the simulator's FAULT_MODES)."""
        resp = requests.post(f"{self.url}/_sim/fault", json={"mode": mode, **opts}, timeout=5)
        resp.raise_for_status()

    def clear_fault(self) -> None:
        """Switch any fault off."""
        requests.delete(f"{self.url}/_sim/fault", timeout=5).raise_for_status()


@dataclass
class Api:
    """An API process and the calls tests make to it."""

    process: ManagedProcess
    url: str

    def get(self, path: str, timeout: float = 10, **kwargs: Any) -> requests.Response:
        """GET a path of the API."""
        return requests.get(f"{self.url}{path}", timeout=timeout, **kwargs)

    def ready(self) -> dict[str, Any]:
        """The body of /ready."""
        body: dict[str, Any] = self.get("/ready").json()
        return body

    def last_ingest(self) -> dict[str, Any]:
        """The newest ingest report, as /ready shows it."""
        check: dict[str, Any] = self.ready()["checks"]["lastIngest"]
        return check

    def samples(self) -> dict[str, int]:
        """Records stored per coin (up to the deviation window of 100), from /ready."""
        coins = self.ready()["checks"]["data"].get("coins", {})
        return {coin: int(entry["samples"]) for coin, entry in coins.items()}

    def stats(self, coin: str) -> dict[str, Any]:
        """The body of /api/stats for a coin."""
        body: dict[str, Any] = self.get(f"/api/stats?coin={coin}").json()
        return body


class Lab:
    """The processes of one test or scenario against one redis-server; `close()` stops them."""

    def __init__(
        self,
        redis_server: RedisServer,
        logs: Path,
        *,
        defaults: Mapping[str, str | None] | None = None,
        on_start: StartHook | None = None,
    ) -> None:
        self.redis = redis_server
        self.logs = logs
        self.defaults = {**LAB_ENV, **(defaults or {})}
        self.on_start = on_start
        self.processes: list[ManagedProcess] = []
        self.client = redis.Redis.from_url(redis_server.url, socket_timeout=5)

    def env(
        self, extra: Mapping[str, str | None], sim: SimulatorProcess | None = None
    ) -> dict[str, str | None]:
        """Return the environment of a lab process: defaults, the simulator's URL, then extra."""
        env: dict[str, str | None] = {"REDIS_URL": self.redis.url, **self.defaults}
        if sim is not None:
            env["COINGECKO_API_URL"] = sim.url
        env.update(extra)
        return env

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str | None]) -> ManagedProcess:
        """Start a process whose output goes to `<logs>/<name>.log`."""
        if self.on_start is not None:
            self.on_start(name, cmd, env)
        process = ManagedProcess(cmd, name=name, env=env, log_path=self.logs / f"{name}.log")
        self.processes.append(process)
        return process

    def simulator(self, seed: int = 7, *args: str) -> SimulatorProcess:
        """Start the CoinGecko simulator (extra command-line args) and wait until it answers."""
        port = free_port()
        argv = ("--port", str(port), "--seed", str(seed), *args)
        cmd = python_module_cmd("cryptostats_dev.simulator", *argv)
        process = self.start("simulator", cmd, {})
        url = f"http://{LOCALHOST}:{port}"
        wait_for_http(f"{url}/ping", timeout=START_TIMEOUT, process=process)
        return SimulatorProcess(process, url)

    def api(
        self,
        sim: SimulatorProcess | None,
        name: str = "api",
        *,
        cmd: Sequence[str] | None = None,
        timeout: float = START_TIMEOUT,
        env: Mapping[str, str | None] | None = None,
        **extra: str | None,
    ) -> Api:
        """Start the API (`python -m api_server` unless `cmd`) on a free port; wait for /health.

        Its environment: the lab's, then `env`, then `extra`.
        """
        port = free_port()
        api_env = self.env({**(env or {}), **extra}, sim)
        env = {**api_env, "API_HOST": LOCALHOST, "API_PORT": str(port)}
        process = self.start(name, cmd or python_module_cmd("api_server"), env)
        url = f"http://{LOCALHOST}:{port}"
        wait_for_http(f"{url}/health", timeout=timeout, process=process)
        return Api(process, url)

    def worker(self, name: str = "worker", **extra: str | None) -> ManagedProcess:
        """Start `python -m worker_server`."""
        return self.start(name, python_module_cmd("worker_server"), self.env(extra))

    def publish(self, channel: str = CHANNEL) -> int:
        """Publish one update trigger; return how many subscribers received it."""
        return int(self.client.publish(channel, UpdateTrigger().encode()))

    def subscribers(self) -> int:
        """How many clients are subscribed to the channel."""
        return int(self.client.pubsub_numsub(CHANNEL)[0][1])

    def close(self) -> None:
        """Stop every process, newest first."""
        self.client.close()
        for process in reversed(self.processes):
            process.stop()


@contextmanager
def lab_for(redis_server: RedisServer, logs: Path) -> Iterator[Lab]:
    """Yield a Lab and stop every process it started, whatever happens."""
    lab = Lab(redis_server, logs)
    try:
        yield lab
    finally:
        lab.close()
