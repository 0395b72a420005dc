"""compose's Redis command, run for real: the password file it reads, and its refusal when empty.

The command is taken from docker-compose.yml, with Compose's `$$` escape undone, the secret's path
pointed at a temp file, and a free loopback port added (never the system Redis on 6379).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis
import yaml

from cryptostats_dev.procs import LOCALHOST, ManagedProcess, free_port, wait_for_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRET = "/run/secrets/redis_password"


def redis_script(secret_file: Path, port: int) -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    command = compose["services"]["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2].replace("$$", "$").replace(SECRET, str(secret_file))
    assert "redis-server -" in script
    return script.replace("redis-server -", f"redis-server - --port {port} --bind {LOCALHOST}")


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run `sudo make system-deps`")


def test_redis_starts_with_the_secret_as_its_password(tmp_path: Path) -> None:
    secret = tmp_path / "redis_password"
    secret.write_text("0123abcd" * 4 + "\n")
    port = free_port()
    server = ManagedProcess(
        ["sh", "-c", redis_script(secret, port)], name="redis", cwd=tmp_path,
        log_path=tmp_path / "redis.log",
    )  # fmt: skip
    try:
        wait_for_port(LOCALHOST, port, 10, process=server)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        assert redis.Redis(port=port, password="0123abcd" * 4).ping()
        assert "0123abcd" not in " ".join(server.cmd).replace(str(secret), "")
    finally:
        server.stop()


def test_redis_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    secret = tmp_path / "redis_password"
    secret.write_text("")
    done = subprocess.run(
        ["sh", "-c", redis_script(secret, free_port())], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 1
    assert "REDIS_PASSWORD is empty" in done.stderr
