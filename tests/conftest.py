"""Fixtures shared by every test: real throw-away processes, each stopped after its test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptostats_dev.brokers import RedisServer


@pytest.fixture
def real_redis_server() -> Iterator[RedisServer]:
    """Yield a fresh redis-server on a free port; skip when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run `sudo make system-deps`")
    server = RedisServer()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def tmp_logs(tmp_path: Path) -> Path:
    """Return a directory for process log files (kept by pytest for failed runs)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs
