"""Redis brokers for development: a throw-away redis-server process, or an embedded fakeredis."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from fakeredis import TcpFakeServer

from cryptostats_dev.procs import (
    DEFAULT_STOP_TIMEOUT,
    LOCALHOST,
    POLL_INTERVAL,
    ManagedProcess,
    ProcessExited,
    exit_report,
    free_port,
    port_is_free,
)

REDIS_START_TIMEOUT = 10.0
"""Seconds a freshly started redis-server gets to answer PING."""


class RedisServer(ManagedProcess):
    """A throw-away `redis-server` on 127.0.0.1 with no persistence and its own temp directory."""

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        start: bool = True,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(
                "redis-server is not installed (not found on PATH); install it "
                "(apt-get install redis-server) or use EmbeddedBroker instead"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="cryptostats-redis-"))
        # Deleted by cleanup(), or silently when this object is collected or at exit.
        self._remove_workdir = weakref.finalize(
            self, shutil.rmtree, self.workdir, ignore_errors=True
        )
        self._chosen_port = port is None
        self.port = port if port is not None else free_port()
        self._extra_args = list(extra_args)
        super().__init__(
            [binary],
            name="redis-server",
            log_path=log_path or self.workdir / "redis-server.log",
            start=False,
        )
        if start:
            try:
                self.start()
            except BaseException:
                self._remove_workdir()
                raise

    @property
    def url(self) -> str:
        """The redis:// URL of this server (database 0)."""
        return f"redis://{LOCALHOST}:{self.port}/0"

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING; a no-op if it is running."""
        if self.alive:
            return self
        attempts = 3 if self._chosen_port else 1
        for attempt in range(attempts):
            if not port_is_free(LOCALHOST, self.port):
                if attempt + 1 < attempts:
                    self.port = free_port()
                    continue
                raise RuntimeError(
                    f"cannot start redis-server: port {self.port} on {LOCALHOST} is in use"
                )
            self.cmd = [self.cmd[0], *self._args()]
            super().start()
            try:
                self._wait_ready()
                return self
            except ProcessExited:
                if attempt + 1 >= attempts:
                    raise
                self.port = free_port()  # lost a race for the port; try another
        raise AssertionError("unreachable")

    def restart(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> Self:
        """Stop the server and start it again on the same port (its data is lost)."""
        self.stop(timeout)
        self._chosen_port = False
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its temp directory."""
        self.stop()
        self._remove_workdir()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def _args(self) -> list[str]:
        return [
            "--port",
            str(self.port),
            "--bind",
            LOCALHOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            *self._extra_args,
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive:
                raise ProcessExited(exit_report(self))
            # Check the server's pid so a Redis we did not start is never mistaken for ours.
            if redis_server_pid(LOCALHOST, self.port) == self.pid:
                return
            time.sleep(POLL_INTERVAL)
        self.stop()
        raise TimeoutError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{REDIS_START_TIMEOUT:g} s\n--- last output ---\n{self.log_tail()}"
        )


def redis_server_pid(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Return the process id of the Redis answering PING on host:port, or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            sock.sendall(b"PING\r\n")
            if reader.readline() != b"+PONG\r\n":
                return None
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            header = reader.readline()
            if not header.startswith(b"$"):
                return None
            body = reader.read(int(header[1:]) + 2).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None
    for line in body.splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


class EmbeddedBroker:
    """An in-process fakeredis server reachable over TCP (Pub/Sub included), for development."""

    def __init__(self, port: int | None = None, *, start: bool = True) -> None:
        self.port = port or 0
        self._server: TcpFakeServer | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    @property
    def url(self) -> str:
        """The redis:// URL clients connect to."""
        return f"redis://{LOCALHOST}:{self.port}/0"

    @property
    def alive(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Bind the port and serve in a background thread; a no-op if already serving."""
        if self.alive:
            return self
        server = TcpFakeServer((LOCALHOST, self.port))
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fakeredis-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop serving, close every client connection and release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()  # also tells every connection handler to finish
        thread.join(timeout)
        server.server_close()  # joins the handler threads
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
