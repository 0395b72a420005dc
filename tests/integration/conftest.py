"""Real processes for integration tests: redis-server, the simulator, the API, the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.lab import Lab, lab_for


@pytest.fixture
def stack(real_redis_server: RedisServer, tmp_path: Path) -> Iterator[Lab]:
    """Yield a Lab on a fresh redis-server; afterwards no process it started is left."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with lab_for(real_redis_server, logs) as lab:
        yield lab
    for process in lab.processes:
        assert not process.alive, f"{process.name} survived the test"
