"""Run the whole service in the foreground: a Redis broker, the API and the worker.

    python -m cryptostats_dev.stack          # `make run`: real CoinGecko (or COINGECKO_API_URL)
    python -m cryptostats_dev.stack --demo   # `make demo`: synthetic data from the local simulator

Ctrl-C, SIGTERM or SIGHUP stops every child (last started first) and exits 0; a child that dies
on its own stops the rest and exits 1; a bad setting or a busy API port exits 2 before anything
starts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Literal, Protocol, TextIO
from urllib.parse import urlsplit, urlunsplit

from cryptostats.config import Settings
from cryptostats.errors import ConfigError
from cryptostats_dev.brokers import EmbeddedBroker, RedisServer
from cryptostats_dev.lab import Commands, Lab
from cryptostats_dev.procs import ManagedProcess, ProcessExited, WaitCancelled, port_is_free

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package is installed from (editable), where `.env` lives."""

DEMO_UPDATE_INTERVAL_SECONDS = "10"
"""Update interval in demo mode unless UPDATE_INTERVAL_SECONDS is set in the shell (not .env)."""

DEMO_BACKFILL_RATE = "600"
"""BACKFILL_CALLS_PER_MINUTE of the demo (the simulator has no plan limit): 0.1 s per coin."""

API_READY_TIMEOUT = 60.0
"""Seconds the API gets to answer GET /health."""

SIMULATOR_READY_TIMEOUT = 20.0
"""Seconds the simulator gets to answer GET /ping."""

CHILD_STOP_TIMEOUT = 10.0
"""Seconds a child gets between SIGTERM and SIGKILL."""

SUPERVISE_INTERVAL = 0.5
"""Seconds between two checks that every child is still alive."""

BrokerKind = Literal["environment", "redis-server", "embedded"]


class StackError(Exception):
    """Something the user must fix before the stack can run; `exit_code` says how to exit."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Broker(Protocol):
    """What the stack needs of a broker it started."""

    @property
    def url(self) -> str: ...

    @property
    def alive(self) -> bool: ...

    def stop(self, timeout: float = ...) -> object: ...


class Console:
    """Write whole lines from several threads to one stream, with a prefix per source."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.RLock()

    def line(self, source: str, text: str) -> None:
        """Write `[source] text`."""
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(f"[{source}] {text}\n")
            stream.flush()

    def say(self, text: str) -> None:
        """Write one or more lines from the stack itself."""
        for part in text.splitlines() or [""]:
            self.line("stack", part)


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse KEY=VALUE lines, ignoring blank lines and comments; raise ValueError on junk."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"line {number}: expected KEY=VALUE, got {raw.strip()!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def load_dotenv(path: Path, environ: MutableMapping[str, str]) -> list[str]:
    """Copy the file's non-empty values into `environ` where unset or empty; return their names."""
    if not path.is_file():
        return []
    try:
        values = parse_dotenv(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StackError(f"{path}: {exc}", exit_code=2) from None
    applied = []
    for key, value in values.items():
        if value and not environ.get(key, "").strip():
            environ[key] = value
            applied.append(key)
    return applied


def redact_url(url: str) -> str:
    """Return the URL with any password (or lone user-info, which may be one) replaced by ***."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, _password = userinfo.partition(":")
    masked = f"{user}:***" if sep else "***"
    return urlunsplit(parts._replace(netloc=f"{masked}@{hostport}"))


def choose_broker(
    environ: Mapping[str, str], which: Callable[[str], str | None] = shutil.which
) -> BrokerKind:
    """Pick the broker: REDIS_URL from the environment, else redis-server, else embedded."""
    if environ.get("REDIS_URL", "").strip():
        return "environment"
    if which("redis-server") is not None:
        return "redis-server"
    return "embedded"


def start_broker(kind: BrokerKind, environ: Mapping[str, str], console: Console) -> Broker | None:
    """Start the chosen broker (None when REDIS_URL points at an existing one) and log it."""
    if kind == "environment":
        url = redact_url(environ["REDIS_URL"].strip())
        console.say(f"using REDIS_URL from the environment: {url}")
        return None
    if kind == "redis-server":
        redis = RedisServer()
        console.say(f"started redis-server on port {redis.port} (pid {redis.pid}): {redis.url}")
        return redis
    broker = EmbeddedBroker()
    console.say(
        f"WARNING: redis-server is not installed; using the EMBEDDED fakeredis broker at "
        f"{broker.url}. It is for development only: in-memory, single process, not Redis."
    )
    return broker


class Stack:
    """Start the broker, then (the simulator,) the API and the worker in a `Lab`; supervise."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        demo: bool = False,
        console: Console | None = None,
        commands: Commands | None = None,
        stop_event: threading.Event | None = None,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.environ = dict(environ)
        self.demo = demo
        self.console = console or Console()
        self.commands = commands or Commands()
        self.stop_event = stop_event or threading.Event()
        self.which = which
        self.broker: Broker | None = None
        self.lab: Lab | None = None

    @property
    def children(self) -> list[ManagedProcess]:
        """The processes started so far, oldest first."""
        return list(self.lab.processes) if self.lab is not None else []

    def run(self) -> int:
        """Run until stopped (exit 0) or until a child dies (exit 1); always stop everything."""
        try:
            self._start()
            return self._supervise()
        except WaitCancelled:
            return 0
        except StackError as exc:
            self.console.say(f"ERROR: {exc}")
            return exc.exit_code
        except (ProcessExited, TimeoutError) as exc:
            self.console.say(f"ERROR: {exc}")
            return 1
        finally:
            self._stop_all()

    def _start(self) -> None:
        env = self._child_env()
        settings = _validated(env)
        api_host = settings.api_host
        if not port_is_free(api_host, settings.api_port):
            raise StackError(
                f"API port {settings.api_port} on {api_host} is already in use: stop what "
                "listens there or set API_PORT to another port",
                exit_code=2,
            )
        kind = choose_broker(env, self.which)
        self.broker = start_broker(kind, env, self.console)
        redis_url = self.broker.url if self.broker is not None else env["REDIS_URL"].strip()
        lab = self.lab = Lab(
            redis_url,
            base_env=env,
            on_output=self.console.line,
            on_start=self._started,
            commands=self.commands,
            cancel=self.stop_event,
        )
        sim = None
        if self.demo:
            sim = lab.simulator(None, name="sim", timeout=SIMULATOR_READY_TIMEOUT)
            lab.defaults["COINGECKO_API_URL"] = sim.url  # the worker's environment too
            # The simulator has no plan limit: 30 days of history within seconds of starting.
            if lab.defaults.get("BACKFILL_CALLS_PER_MINUTE") in (None, "", "0"):
                lab.defaults["BACKFILL_CALLS_PER_MINUTE"] = DEMO_BACKFILL_RATE
        bind = (api_host, settings.api_port)
        api = lab.api(sim, bind=bind, timeout=API_READY_TIMEOUT)
        # Only now: the worker's first trigger would be lost if the API were not subscribed yet.
        lab.worker()
        self._announce(lab.env({}), f"{api_host}:{settings.api_port}", api.url)

    def _child_env(self) -> dict[str, str]:
        env = dict(self.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.demo and not env.get("UPDATE_INTERVAL_SECONDS", "").strip():
            env["UPDATE_INTERVAL_SECONDS"] = DEMO_UPDATE_INTERVAL_SECONDS
        return env

    def _started(self, child: ManagedProcess) -> None:
        self.console.say(f"started {child.name} (pid {child.pid}): {' '.join(child.cmd)}")

    def _announce(self, env: Mapping[str, str | None], api_bind: str, api_url: str) -> None:
        api_port = api_url.rpartition(":")[2]
        if not self.demo:
            self.console.say(f"API listening on {api_bind} (try: curl {api_url}/health)")
            self.console.say("Ctrl-C stops everything.")
            return
        rule = "=" * 72
        self.console.say(
            "\n".join(
                [
                    rule,
                    "DEMO MODE: every price, volume and statistic is SYNTHETIC.",
                    "It comes from the local CoinGecko simulator at "
                    f"{env['COINGECKO_API_URL']}, NOT from CoinGecko.",
                    f"The worker triggers an update every {env['UPDATE_INTERVAL_SECONDS']} s.",
                    f"Try:  curl localhost:{api_port}/api/stats?coin=bitcoin",
                    "Ctrl-C stops everything.",
                    rule,
                ]
            )
        )

    def _supervise(self) -> int:
        while not self.stop_event.wait(SUPERVISE_INTERVAL):
            for child in self.children:
                if not child.alive:
                    self.console.say(
                        f"ERROR: {child.name} exited unexpectedly with code "
                        f"{child.returncode}; stopping the rest"
                    )
                    return 1
            if self.broker is not None and not self.broker.alive:
                self.console.say("ERROR: the Redis broker died unexpectedly; stopping the rest")
                return 1
        return 0

    def _stop_all(self) -> None:
        if self.children or self.broker is not None:
            self.console.say("stopping...")
        if self.lab is not None:
            self.lab.stop_all(
                CHILD_STOP_TIMEOUT,
                lambda child, code: self.console.say(f"stopped {child.name} (exit code {code})"),
            )
            self.lab.client.close()
        if self.broker is not None:
            if isinstance(self.broker, RedisServer):
                self.broker.cleanup()  # also deletes its temp directory
            else:
                self.broker.stop()
            self.console.say("stopped the broker")
            self.broker = None


def _validated(env: Mapping[str, str]) -> Settings:
    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        raise StackError(f"configuration error: {exc}", exit_code=2) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack in the foreground until Ctrl-C or SIGTERM; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m cryptostats_dev.stack", description=__doc__)
    parser.add_argument(
        "--demo", action="store_true", help="serve SYNTHETIC data from the local simulator"
    )
    args = parser.parse_args(argv)
    console = Console()
    environ = dict(os.environ)
    if args.demo and not environ.get("UPDATE_INTERVAL_SECONDS", "").strip():
        # --demo is a more specific request than the committed .env (which holds the production
        # interval); only a value set in the shell overrides the demo's short interval.
        environ["UPDATE_INTERVAL_SECONDS"] = DEMO_UPDATE_INTERVAL_SECONDS
    try:
        loaded = load_dotenv(REPO_ROOT / ".env", environ)
    except StackError as exc:
        console.say(f"ERROR: {exc}")
        return exc.exit_code
    if loaded:
        console.say(f"loaded {', '.join(loaded)} from {REPO_ROOT / '.env'}")
    stop_event = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_event.set()  # no printing here: the handler may interrupt a write holding the lock

    # SIGHUP too: the children run in their own sessions, so a closed terminal would not reach them.
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, request_stop) for sig in signals}
    try:
        stack = Stack(environ=environ, demo=args.demo, console=console, stop_event=stop_event)
        return stack.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
