"""The write path with real processes: embedded-store replicas, a crash right after an ingest."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.procs import wait_until

pytestmark = pytest.mark.integration

CLAIM_SECONDS = "2"
"""A claim window long enough that a crash lands inside it."""


def newest_bitcoin_price(sim: SimulatorProcess) -> float:
    served = [e for e in sim.markets() if e["status"] == 200]
    return float(served[-1]["coins"]["bitcoin"]["current_price"])


def worker_pid(api: Api) -> int:
    """The pid of the gunicorn worker (the one child of the API's master process)."""
    master = api.process.pid
    assert master is not None
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_two_embedded_store_apis_both_serve_every_price(stack: Lab) -> None:
    sim = stack.simulator()
    first = stack.api(sim, name="api-1")
    second = stack.api(sim, name="api-2")
    wait_until(lambda: stack.subscribers() == 2, 10, "both APIs to subscribe")
    for api in (first, second):  # each catches up at start (the second missed the first's)
        wait_until(lambda a=api: a.stats("bitcoin").get("price"), 15, f"{api.url} data")
    time.sleep(0.6)  # past the lab's 0.5 s claim window of the start-up fetches
    for round_ in range(3):
        calls = sim.total_calls()
        assert stack.publish() == 2
        wait_until(lambda c=calls: sim.total_calls() > c, 10, f"fetch {round_}")
        price = newest_bitcoin_price(sim)
        for api in (first, second):
            wait_until(
                lambda a=api, p=price: a.stats("bitcoin").get("price") == p, 10, f"{api.url}"
            )
        time.sleep(0.6)  # past the lab's 0.5 s claim window: the next trigger fetches again
    assert sim.total_calls() <= 5  # one fetch per trigger, plus the two start-up ones


def test_a_crash_right_after_an_ingest_is_served_again_within_the_claim_window(
    stack: Lab,
) -> None:
    sim = stack.simulator()
    api = stack.api(sim, INGEST_CLAIM_SECONDS=CLAIM_SECONDS)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    time.sleep(float(CLAIM_SECONDS) + 0.2)
    calls = sim.total_calls()
    assert stack.publish() == 1
    wait_until(lambda: sim.total_calls() > calls, 10, "the trigger's fetch")
    time.sleep(0.3)
    os.kill(worker_pid(api), signal.SIGKILL)  # the embedded store dies with it
    killed = time.monotonic()
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 20, "data again")
    took = time.monotonic() - killed
    print(f"\nserved again {took:.2f} s after the worker was killed")
    assert took < float(CLAIM_SECONDS) + 5  # the catch-up waits out the marker, not the tick
    assert api.last_ingest()["reason"].startswith("catch-up")


def test_nested_messages_do_not_delay_a_real_trigger(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    time.sleep(0.6)  # past the lab's 0.5 s claim window
    calls = sim.total_calls()
    nested = "[" * 1000 + "]" * 1000
    for _ in range(15):
        assert stack.client.publish("crypto.update", nested) == 1
    sent = time.monotonic()
    assert stack.publish() == 1
    wait_until(lambda: sim.total_calls() > calls, 10, "the trigger's fetch")
    delay = time.monotonic() - sent
    print(f"\ntrigger fetched {delay * 1000:.0f} ms after 15 nested 2 KB messages")
    assert delay < 1.0  # was 15 s: a traceback and a 1 s pause per message
    assert "Traceback" not in api.process.log_text()
