"""The one orchestrator of real processes: integration tests, fault scenarios, bench, make run.

A `Lab` runs, against one Redis, the CoinGecko simulator, API processes (`python -m api_server`,
or another command such as the bench's gunicorn app), workers (`python -m worker_server`) and
nginx in front of an API (deploy/nginx's template), and stops them all. `SimulatorProcess` and
`Api` wrap what a caller asks of those processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from cryptostats.messages import UpdateTrigger
from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.nginx import NginxProxy
from cryptostats_dev.procs import (
    DEFAULT_STOP_TIMEOUT,
    LOCALHOST,
    ManagedProcess,
    WaitCancelled,
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
    "BACKFILL_DAYS": "0",  # tests of the backfill turn it on; others count upstream calls
}
"""The environment of test and bench processes, before the caller's own (None: unset)."""

StartHook = Callable[[ManagedProcess], None]
"""Called with each process just after it started."""


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


@dataclass(frozen=True)
class Commands:
    """The command of each kind of process; tests swap in stand-ins."""

    api: Sequence[str] = field(default_factory=lambda: python_module_cmd("api_server"))
    worker: Sequence[str] = field(default_factory=lambda: python_module_cmd("worker_server"))
    simulator: Callable[[int], Sequence[str]] = lambda port: python_module_cmd(
        "cryptostats_dev.simulator", "--host", LOCALHOST, "--port", str(port)
    )


class Lab:
    """The processes of one run against one Redis; `close()` stops them, newest first.

    The one orchestrator: integration tests and fault scenarios (`lab_for`, log files, test
    defaults), the bench (its own defaults and commands) and `make run`/`make demo` (`Stack`:
    the user's environment, output on the console, a fixed API port) all start processes here.
    Output goes to `<logs>/<name>.log`, or line by line to `on_output(name, line)`.
    """

    def __init__(
        self,
        redis_url: str,
        logs: Path | None = None,
        *,
        redis_server: RedisServer | None = None,
        base_env: Mapping[str, str | None] = LAB_ENV,
        defaults: Mapping[str, str | None] | None = None,
        on_output: Callable[[str, str], None] | None = None,
        on_start: StartHook | None = None,
        commands: Commands | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if (logs is None) == (on_output is None):
            raise ValueError("give logs or on_output")
        self.redis_url = redis_url
        self.logs = logs
        self._redis_server = redis_server
        self.defaults: dict[str, str | None] = {**base_env, **(defaults or {})}
        self.on_output = on_output
        self.on_start = on_start
        self.commands = commands or Commands()
        self.cancel = cancel
        self.processes: list[ManagedProcess] = []
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5)

    @property
    def redis(self) -> RedisServer:
        """The redis-server of this lab, for scenarios that stop and restart it."""
        if self._redis_server is None:
            raise RuntimeError("this lab runs against a Redis it did not start")
        return self._redis_server

    def env(
        self, extra: Mapping[str, str | None], sim: SimulatorProcess | None = None
    ) -> dict[str, str | None]:
        """Return the environment of a lab process: defaults, the simulator's URL, then extra."""
        env: dict[str, str | None] = {**self.defaults, "REDIS_URL": self.redis_url}
        if sim is not None:
            env["COINGECKO_API_URL"] = sim.url
        env.update(extra)
        return env

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str | None]) -> ManagedProcess:
        """Start a process (it is stopped by `close()` even when its start fails)."""
        if self.cancel is not None and self.cancel.is_set():
            raise WaitCancelled("stop requested during start-up")
        on_output = self.on_output
        process = ManagedProcess(
            cmd,
            name=name,
            env=env,
            log_path=self.logs / f"{name}.log" if self.logs is not None else None,
            on_output=(lambda line: on_output(name, line)) if on_output is not None else None,
            start=False,
        )
        self.processes.append(process)
        process.start()
        if self.on_start is not None:
            self.on_start(process)
        return process

    def simulator(
        self,
        seed: int | None = 7,
        *args: str,
        name: str = "simulator",
        timeout: float = START_TIMEOUT,
    ) -> SimulatorProcess:
        """Start the CoinGecko simulator (seed, extra args) and wait until it answers /ping."""
        port = free_port()
        seeded = ("--seed", str(seed)) if seed is not None else ()
        process = self.start(name, [*self.commands.simulator(port), *seeded, *args], {})
        url = f"http://{LOCALHOST}:{port}"
        self._wait_for(f"{url}/ping", timeout, process)
        return SimulatorProcess(process, url)

    def api(
        self,
        sim: SimulatorProcess | None,
        name: str = "api",
        *,
        cmd: Sequence[str] | None = None,
        timeout: float = START_TIMEOUT,
        env: Mapping[str, str | None] | None = None,
        bind: tuple[str, int] | None = None,
        **extra: str | None,
    ) -> Api:
        """Start the API and wait until /health answers.

        `cmd` defaults to `python -m api_server`. Its environment: the lab's, then `env`, then
        `extra`. Without `bind` it listens on a free port of 127.0.0.1; with `bind` (host, port)
        the environment already says where (as `make run`'s does).
        """
        api_env = self.env({**(env or {}), **extra}, sim)
        if bind is None:
            bind = (LOCALHOST, free_port())
            api_env.update(API_HOST=bind[0], API_PORT=str(bind[1]))
        process = self.start(name, cmd or self.commands.api, api_env)
        url = f"http://{connect_host(bind[0])}:{bind[1]}"
        self._wait_for(f"{url}/health", timeout, process)
        return Api(process, url)

    def worker(self, name: str = "worker", **extra: str | None) -> ManagedProcess:
        """Start the worker (`python -m worker_server`)."""
        return self.start(name, self.commands.worker, self.env(extra))

    def proxy(
        self,
        upstream: Api | str,
        *,
        wrap: Callable[[list[str]], list[str]] | None = None,
        **options: Any,
    ) -> NginxProxy:
        """Start nginx in front of an API (or a host:port) and wait until it listens.

        `options` go to `NginxProxy` (port, limits, overrides...); `wrap` rewrites its command
        (the bench pins it to a core). `close()` stops it and removes its folder.
        """
        target = upstream.url.removeprefix("http://") if isinstance(upstream, Api) else upstream
        proxy = NginxProxy(target, start=False, **options)
        if wrap is not None:
            proxy.cmd = wrap(proxy.cmd)
        if self.cancel is not None and self.cancel.is_set():
            raise WaitCancelled("stop requested during start-up")
        self.processes.append(proxy)
        proxy.start()
        if self.on_start is not None:
            self.on_start(proxy)
        return proxy

    def publish(self, channel: str = CHANNEL) -> int:
        """Publish one update trigger; return how many subscribers received it."""
        return int(self.client.publish(channel, UpdateTrigger().encode()))

    def subscribers(self) -> int:
        """How many clients are subscribed to the channel."""
        return int(self.client.pubsub_numsub(CHANNEL)[0][1])

    def stop_all(
        self,
        timeout: float = DEFAULT_STOP_TIMEOUT,
        on_stopped: Callable[[ManagedProcess, int | None], None] | None = None,
    ) -> None:
        """Stop every process, newest first, telling `on_stopped` each exit code."""
        for process in reversed(self.processes):
            code = process.stop(timeout)
            if isinstance(process, NginxProxy):
                process.cleanup()  # its temp prefix: configuration, cache, logs
            if on_stopped is not None:
                on_stopped(process, code)

    def close(self) -> None:
        """Stop every process, newest first, and close the lab's Redis client."""
        self.client.close()
        self.stop_all()

    def _wait_for(self, url: str, timeout: float, process: ManagedProcess) -> None:
        wait_for_http(url, timeout=timeout, process=process, cancel=self.cancel)


def connect_host(bind_host: str) -> str:
    """Return the host to connect to for a server bound to `bind_host`."""
    return LOCALHOST if bind_host in ("", "0.0.0.0", "::") else bind_host


@contextmanager
def lab_for(redis_server: RedisServer, logs: Path) -> Iterator[Lab]:
    """Yield a Lab on a redis-server, with log files, and stop every process it started."""
    lab = Lab(redis_server.url, logs, redis_server=redis_server)
    try:
        yield lab
    finally:
        lab.close()
