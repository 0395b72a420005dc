"""Run real processes for integration tests, `make run`/`make demo` and benchmarks.

The Redis brokers (a throw-away redis-server, the embedded fakeredis one) are in brokers.py.

Every process is started in its own session (its own process group) so that `stop()` can signal
it together with any children it forked (gunicorn workers, for example), and every process still
running when the interpreter exits is stopped by an atexit hook: nothing is left behind.
"""

from __future__ import annotations

import atexit
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import requests

DEFAULT_STOP_TIMEOUT = 5.0
"""Seconds between SIGTERM and SIGKILL when stopping a process."""

POLL_INTERVAL = 0.05
"""Seconds between two readiness probes."""

OUTPUT_TAIL_LINES = 2000
"""Lines of piped output a ManagedProcess keeps for `log_text()`."""

LOCALHOST = "127.0.0.1"
"""The only address the helpers bind servers to."""

OutputCallback = Callable[[str], None]

# A process-wide safety net, not application state: whatever is still running at exit is stopped.
_running: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class ProcessExited(RuntimeError):
    """A managed process exited while something was waiting for it to become ready."""


class WaitCancelled(RuntimeError):
    """A readiness wait was cancelled through its `cancel` event."""


def python_module_cmd(module: str, *args: str) -> list[str]:
    """Return the command that runs `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Return whether a server could bind host:port now (as gunicorn does, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(
    host: str,
    port: int,
    timeout: float,
    *,
    process: ManagedProcess | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Wait until host:port accepts TCP connections, raising TimeoutError after `timeout` s."""
    last_error = "no attempt made"

    def accepts() -> bool:
        nonlocal last_error
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            return False

    _poll(
        accepts,
        timeout,
        lambda: (
            f"nothing accepted TCP connections on {host}:{port} within {timeout:g} s "
            f"(last error: {last_error})"
        ),
        process=process,
        cancel=cancel,
    )


def wait_for_http(
    url: str,
    timeout: float,
    expect_status: int = 200,
    *,
    process: ManagedProcess | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Wait until GET url answers `expect_status`, raising TimeoutError after `timeout` s."""
    last_outcome = "no attempt made"

    def answers() -> bool:
        nonlocal last_outcome
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:
            last_outcome = f"{type(exc).__name__}: {exc}"
            return False
        last_outcome = f"HTTP {status}"
        return status == expect_status

    _poll(
        answers,
        timeout,
        lambda: (
            f"GET {url} did not answer HTTP {expect_status} within {timeout:g} s "
            f"(last outcome: {last_outcome})"
        ),
        process=process,
        cancel=cancel,
    )


def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    error: type[Exception] = TimeoutError,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Poll condition until it returns something truthy and return that; raise error on timeout.

    The one polling helper of the tests and the lab. An HTTP error while polling (the server not
    up yet, a dropped connection) counts as "not yet".
    """
    deadline = clock() + timeout
    while True:
        try:
            value = condition()
        except requests.RequestException:
            value = None
        if value:
            return value
        if clock() > deadline:
            raise error(f"timed out after {timeout:g} s waiting for {what}")
        sleep(POLL_INTERVAL)


def _poll(
    probe: Callable[[], bool],
    timeout: float,
    describe_timeout: Callable[[], str],
    *,
    process: ManagedProcess | None,
    cancel: threading.Event | None,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            raise WaitCancelled("the wait was cancelled")
        if probe():
            return
        if process is not None and not process.alive:
            raise ProcessExited(exit_report(process))
        if time.monotonic() >= deadline:
            message = describe_timeout()
            if process is not None:
                message += f"\n--- last output of {process.name} ---\n{process.log_tail()}"
            raise TimeoutError(message)
        time.sleep(POLL_INTERVAL)


def exit_report(process: ManagedProcess) -> str:
    return (
        f"{process.name} (pid {process.pid}) exited with code {process.returncode} "
        f"before it was ready\n--- last output of {process.name} ---\n{process.log_tail()}"
    )


class ManagedProcess:
    """A child process in its own process group that is always stopped, with its children.

    Output goes to `log_path` (appended), or line by line to `on_output` (and a tail is kept for
    `log_text()`), or, when neither is given, to this process's own stdout/stderr.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        on_output: OutputCallback | None = None,
        start: bool = True,
    ) -> None:
        if log_path is not None and on_output is not None:
            raise ValueError("give log_path or on_output, not both")
        self.cmd = [str(part) for part in cmd]
        self.name = name or Path(self.cmd[0]).name
        self.env = dict(env or {})
        self.cwd = cwd
        self.log_path = Path(log_path) if log_path is not None else None
        self.on_output = on_output
        self._popen: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        if start:
            self.start()

    def start(self) -> Self:
        """Start the command; a no-op if it is already running."""
        if self.alive:
            return self
        stdout: int | IO[bytes] | None = None
        log_file: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = stdout = open(self.log_path, "ab")
        elif self.on_output is not None:
            stdout = subprocess.PIPE
        try:
            self._popen = subprocess.Popen(
                self.cmd,
                env=merged_env(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT if stdout is not None else None,
                start_new_session=True,
            )
        finally:
            if log_file is not None:
                log_file.close()
        _running.add(self)
        if self.on_output is not None:
            self._reader = threading.Thread(
                target=self._pump_output, name=f"{self.name}-output", daemon=True
            )
            self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        """The process id, or None before the first start."""
        return self._popen.pid if self._popen is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: killed by that signal), or None while running."""
        return self._popen.poll() if self._popen is not None else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit on its own and return its exit code."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.wait(timeout)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int | None:
        """SIGTERM the process group, SIGKILL it after `timeout` s; return the exit code."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait()
        # The leader is gone; kill whatever it forked that is still in its group.
        _signal_group(popen.pid, signal.SIGKILL)
        _running.discard(self)
        if self._reader is not None:
            self._reader.join(timeout=2.0)
            self._reader = None
        if popen.stdout is not None:
            popen.stdout.close()
        return popen.returncode

    def log_text(self) -> str:
        """Return the output captured so far (the log file, or the tail of piped output)."""
        if self.log_path is not None:
            try:
                return self.log_path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return ""
        return "\n".join(self._tail)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last `lines` lines of captured output, for error messages."""
        text = self.log_text()
        if not text and self.log_path is None and self.on_output is None:
            return "(output was not captured)"
        return "\n".join(text.splitlines()[-lines:])

    def _pump_output(self) -> None:
        popen = self._popen
        assert popen is not None and popen.stdout is not None
        for raw in iter(popen.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self._tail.append(line)
            assert self.on_output is not None
            try:
                self.on_output(line)
            except Exception:  # keep draining the pipe, or the child blocks on a full pipe
                pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<{type(self).__name__} {self.name} pid={self.pid} {state}>"


def merged_env(overrides: Mapping[str, str | None]) -> dict[str, str]:
    """Return os.environ with `overrides` applied; a None value removes the variable."""
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_running):
        process.stop(timeout=2.0)
