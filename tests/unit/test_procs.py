"""Tests of cryptostats_dev.procs that start nothing (the rest: tests/integration/test_procs.py)."""

from __future__ import annotations

import socket
import sys

import pytest

from cryptostats_dev.brokers import redis_server_pid
from cryptostats_dev.procs import free_port, port_is_free, python_module_cmd, wait_until


def test_wait_until_returns_the_first_truthy_value_and_names_what_timed_out() -> None:
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), 5, "an answer", sleep=lambda _s: None) == "ready"
    clock = iter([0.0, 0.0, 6.0])
    with pytest.raises(LookupError, match="timed out after 5 s waiting for the moon"):
        wait_until(
            lambda: None, 5, "the moon", error=LookupError, sleep=lambda _s: None,
            clock=lambda: next(clock),
        )  # fmt: skip


def test_python_module_cmd_uses_this_interpreter() -> None:
    assert python_module_cmd("api_server", "--x") == [sys.executable, "-m", "api_server", "--x"]


def test_free_port_can_be_bound() -> None:
    assert port_is_free("127.0.0.1", free_port())


def test_redis_server_pid_is_none_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert redis_server_pid("127.0.0.1", port) is None
