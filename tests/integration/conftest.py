"""Real processes for integration tests: redis-server, the simulator, the API, the worker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from cryptostats_dev.procs import (
    ManagedProcess,
    RedisServer,
    free_port,
    python_module_cmd,
    wait_for_http,
)

START_TIMEOUT = 20.0
"""Seconds a process gets to start answering."""


@dataclass
class Simulator:
    process: ManagedProcess
    url: str

    def served(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/_sim/served", timeout=5).json())

    def total_calls(self) -> int:
        return int(requests.get(f"{self.url}/_sim/calls", timeout=5).json()["total"])

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()

    def fault(self, mode: str, **opts: Any) -> None:
        resp = requests.post(f"{self.url}/_sim/fault", json={"mode": mode, **opts}, timeout=5)
        resp.raise_for_status()

    def clear_fault(self) -> None:
        requests.delete(f"{self.url}/_sim/fault", timeout=5).raise_for_status()


@dataclass
class Api:
    process: ManagedProcess
    url: str

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10, **kwargs)


@dataclass
class Stack:
    """Starts and stops the processes of one test, against one redis-server."""

    redis: RedisServer
    logs: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def env(self, simulator: Simulator | None, extra: dict[str, str]) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            "REDIS_URL": self.redis.url,
            "MONGO_URI": None,
            "COINGECKO_API_KEY": None,
            "UPDATE_INTERVAL_SECONDS": "3600",
            "INGEST_CLAIM_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
        }
        if simulator is not None:
            env["COINGECKO_API_URL"] = simulator.url
        env.update(extra)
        return env

    def start(self, name: str, cmd: list[str], env: dict[str, str | None]) -> ManagedProcess:
        process = ManagedProcess(cmd, name=name, env=env, log_path=self.logs / f"{name}.log")
        self.processes.append(process)
        return process

    def simulator(self, seed: int = 7) -> Simulator:
        port = free_port()
        cmd = python_module_cmd(
            "cryptostats_dev.simulator", "--port", str(port), "--seed", str(seed)
        )
        process = self.start("simulator", cmd, {})
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/ping", timeout=START_TIMEOUT)
        return Simulator(process, url)

    def api(self, simulator: Simulator | None, name: str = "api", **extra: str) -> Api:
        port = free_port()
        env = self.env(simulator, {"API_HOST": "127.0.0.1", "API_PORT": str(port), **extra})
        process = self.start(name, python_module_cmd("api_server"), env)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health", timeout=START_TIMEOUT)
        return Api(process, url)

    def worker(self, name: str = "worker", **extra: str) -> ManagedProcess:
        return self.start(name, python_module_cmd("worker_server"), self.env(None, extra))

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def stack(real_redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Stack(real_redis_server, logs)
    try:
        yield running
    finally:
        running.stop_all()
        for process in running.processes:
            assert not process.alive, f"{process.name} survived the test"
