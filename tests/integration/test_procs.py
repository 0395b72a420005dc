"""cryptostats_dev.procs with real processes: redis-server, python one-liners, fakeredis."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import redis

from cryptostats_dev.brokers import EmbeddedBroker, RedisServer, redis_server_pid
from cryptostats_dev.procs import (
    ManagedProcess,
    ProcessExited,
    free_port,
    port_is_free,
    python_module_cmd,
    wait_for_http,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.integration

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
FORKS_A_SLEEPER = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print(child.pid, flush=True); time.sleep(60)"
)


def is_gone(pid: int) -> bool:
    """Return whether pid has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


@pytest.mark.timeout(30)
def test_redis_server_answers_ping_on_a_free_port(real_redis_server: RedisServer) -> None:
    assert real_redis_server.alive
    assert real_redis_server.url == f"redis://127.0.0.1:{real_redis_server.port}/0"
    assert redis_server_pid("127.0.0.1", real_redis_server.port) == real_redis_server.pid
    with client(real_redis_server.url) as conn:
        assert conn.ping() is True


@pytest.mark.timeout(30)
def test_restart_comes_back_on_the_same_port_without_data(real_redis_server: RedisServer) -> None:
    port, old_pid = real_redis_server.port, real_redis_server.pid
    with client(real_redis_server.url) as conn:
        conn.set("k", "v")
    real_redis_server.restart()
    assert real_redis_server.port == port
    assert real_redis_server.pid != old_pid
    assert is_gone(old_pid)
    with client(real_redis_server.url) as conn:
        assert conn.ping() is True
        assert conn.get("k") is None


@pytest.mark.timeout(30)
def test_stop_leaves_no_process_and_frees_the_port() -> None:
    server = RedisServer()
    pid, port = server.pid, server.port
    assert pid is not None
    assert server.stop() == 0
    assert not server.alive
    assert is_gone(pid)
    assert port_is_free("127.0.0.1", port)
    server.cleanup()


@pytest.mark.timeout(30)
def test_a_port_held_by_another_redis_is_refused_and_left_alone(
    real_redis_server: RedisServer,
) -> None:
    with client(real_redis_server.url) as conn:
        conn.set("theirs", "1")
        with pytest.raises(RuntimeError, match="in use"):
            RedisServer(port=real_redis_server.port)
        assert conn.get("theirs") == b"1"


@pytest.mark.timeout(30)
def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_logs: Path) -> None:
    proc = ManagedProcess(
        [sys.executable, "-c", IGNORES_SIGTERM], name="stubborn", log_path=tmp_logs / "s.log"
    )
    wait_until(lambda: "ready" in proc.log_text(), 10, "the child to start")
    started = time.monotonic()
    assert proc.stop(timeout=0.5) == -9
    assert time.monotonic() - started < 5
    assert proc.pid is not None and is_gone(proc.pid)


@pytest.mark.timeout(30)
def test_stop_also_kills_what_the_process_forked() -> None:
    lines: list[str] = []
    with ManagedProcess([sys.executable, "-c", FORKS_A_SLEEPER], on_output=lines.append) as proc:
        wait_until(lambda: bool(lines), 10, "the grandchild pid")
        grandchild = int(lines[0])
        assert not is_gone(grandchild)
    assert not proc.alive
    wait_until(lambda: is_gone(grandchild), 10, "the grandchild to exit")


@pytest.mark.timeout(30)
def test_piped_output_reaches_the_callback_and_the_tail() -> None:
    lines: list[str] = []
    proc = ManagedProcess(
        [sys.executable, "-c", "import os; print('hello', os.environ['GREETING'])"],
        env={"GREETING": "world"},
        on_output=lines.append,
    )
    assert proc.wait(timeout=10) == 0
    proc.stop()
    assert lines == ["hello world"]
    assert proc.log_text() == "hello world"


@pytest.mark.timeout(30)
def test_env_none_removes_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTOSTATS_PROCS_TEST", "set")
    lines: list[str] = []
    proc = ManagedProcess(
        [sys.executable, "-c", "import os; print(os.environ.get('CRYPTOSTATS_PROCS_TEST'))"],
        env={"CRYPTOSTATS_PROCS_TEST": None},
        on_output=lines.append,
    )
    proc.wait(timeout=10)
    proc.stop()
    assert lines == ["None"]


@pytest.mark.timeout(30)
def test_wait_for_http_sees_a_server_come_up(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "health").write_text("ok")
    cmd = python_module_cmd("http.server", str(port), "--bind", "127.0.0.1")
    with ManagedProcess(cmd, cwd=tmp_path, log_path=tmp_path / "http.log") as proc:
        wait_for_port("127.0.0.1", port, timeout=10, process=proc)
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=10, process=proc)
        wait_for_http(f"http://127.0.0.1:{port}/missing", timeout=10, expect_status=404)


@pytest.mark.timeout(30)
def test_waits_time_out_with_a_message_naming_the_target() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        wait_for_port("127.0.0.1", port, timeout=0.3)
    with pytest.raises(TimeoutError, match="did not answer HTTP 200"):
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=0.3)


@pytest.mark.timeout(30)
def test_a_wait_fails_fast_when_the_process_dies() -> None:
    proc = ManagedProcess(
        [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
        name="doomed",
        on_output=lambda line: None,
    )
    with pytest.raises(ProcessExited, match=r"doomed .* exited with code 3(.|\n)*boom"):
        wait_for_port("127.0.0.1", free_port(), timeout=20, process=proc)
    proc.stop()


@pytest.mark.timeout(30)
def test_embedded_broker_relays_pubsub_between_two_clients() -> None:
    with EmbeddedBroker() as broker:
        with client(broker.url) as subscriber_conn, client(broker.url) as publisher:
            pubsub = subscriber_conn.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe("crypto.update")
            wait_until(lambda: publisher.pubsub_numsub("crypto.update")[0][1] == 1, 10, "subscribe")
            assert publisher.publish("crypto.update", '{"trigger":"update"}') == 1
            message = None
            deadline = time.monotonic() + 10
            while message is None and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1.0)
            assert message is not None
            assert message["data"] == b'{"trigger":"update"}'
            pubsub.close()
        port = broker.port
    assert not broker.alive
    assert port_is_free("127.0.0.1", port)
