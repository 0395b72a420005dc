"""A Stack of stand-in children (python one-liners) over the embedded broker: run, stop, demo."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from cryptostats_dev.procs import wait_until
from cryptostats_dev.stack import Stack
from tests.stack_standins import DIES, fake_server, make_stack

pytestmark = pytest.mark.integration
__all__ = ["fake_server"]  # a fixture, used by name


class StackRun:
    """A Stack running in a thread, with its console output."""

    def __init__(self, stack: Stack, output: io.StringIO) -> None:
        self.stack, self.output = stack, output
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.exit_code = self.stack.run()

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        def shown() -> bool:
            assert self.thread.is_alive(), f"stack ended early:\n{self.output.getvalue()}"
            return text in self.output.getvalue()

        wait_until(shown, timeout, f"{text!r} in:\n{self.output.getvalue()}")

    def finish(self, timeout: float = 30.0) -> int | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        return self.exit_code


@pytest.mark.timeout(60)
def test_stack_runs_until_stopped_then_stops_every_child(fake_server: Path) -> None:
    stack, output = make_stack(fake_server)
    run = StackRun(stack, output)
    run.wait_for_output("Ctrl-C stops everything")
    run.wait_for_output("[worker] worker up")
    children = list(stack.children)
    assert [child.name for child in children] == ["api", "worker"]
    assert f"[api] REDIS_URL={stack.broker.url}" in output.getvalue()  # type: ignore[union-attr]
    stack.stop_event.set()
    assert run.finish() == 0
    assert not any(child.alive for child in children)
    text = output.getvalue()
    order = [text.index(f"stopped {name}") for name in ("worker", "api", "the broker")]
    assert order == sorted(order)


@pytest.mark.timeout(60)
def test_a_child_that_dies_stops_the_rest_and_is_named(fake_server: Path) -> None:
    stack, output = make_stack(fake_server, worker=DIES)
    run = StackRun(stack, output)
    assert run.finish() == 1
    assert "worker exited unexpectedly with code 3" in output.getvalue()
    assert "stopped api" in output.getvalue()
    assert [child.name for child in stack.children] == ["api", "worker"]
    assert not any(child.alive for child in stack.children) and stack.broker is None


@pytest.mark.timeout(60)
def test_demo_points_the_children_at_the_simulator(fake_server: Path) -> None:
    stack, output = make_stack(fake_server, demo=True)
    run = StackRun(stack, output)
    run.wait_for_output("Ctrl-C stops everything")
    stack.stop_event.set()
    assert run.finish() == 0
    text = output.getvalue()
    assert "[sim] " in text
    assert "SYNTHETIC" in text
    assert f"curl localhost:{stack.environ['API_PORT']}/api/stats?coin=bitcoin" in text
    assert "[api] COINGECKO_API_URL=http://127.0.0.1:" in text
    assert "[api] UPDATE_INTERVAL_SECONDS=10" in text
