"""Fault scenarios of the broker and the subscriber: Redis restarts, lost triggers, bursts."""

from __future__ import annotations

import time

from cryptostats_dev.fault_common import (
    RECOVERY_LIMIT,
    REDIS_OUTAGE_SECONDS,
    Outcome,
    ScenarioFailed,
    account,
    expect,
    wait_for_data,
    wait_for_ingest,
)
from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import wait_until


def redis_restart(lab: Lab) -> Outcome:
    """Kill redis-server, keep it down 10 s, start it on the same port, publish a trigger."""
    sim = lab.simulator()
    api = lab.api(sim)
    wait_for_data(api)
    before = api.last_ingest()["startedAt"]
    lab.redis.stop()
    time.sleep(REDIS_OUTAGE_SECONDS / 2)
    expect(api.get("/api/stats?coin=bitcoin").status_code == 200, "reads stop while Redis is down")
    down = api.get("/ready")
    expect(down.status_code == 503, f"/ready answers {down.status_code} while Redis is down")
    expect(not down.json()["checks"]["redis"]["ok"], "/ready does not name Redis as down")
    time.sleep(REDIS_OUTAGE_SECONDS / 2)
    lab.redis.restart()
    restarted = time.monotonic()
    wait_until(
        lambda: lab.subscribers() >= 1,
        RECOVERY_LIMIT,
        "the subscriber to come back",
        error=ScenarioFailed,
    )
    resubscribed = time.monotonic() - restarted
    expect(lab.publish() == 1, "the trigger reached no subscriber")
    report = wait_for_ingest(api, before, timeout=RECOVERY_LIMIT)
    recovered = time.monotonic() - restarted
    expect(report["outcome"] == "ok", f"ingest after the restart: {report}")
    expect(recovered <= RECOVERY_LIMIT, f"ingested {recovered:.2f} s after the restart")
    sub = wait_until(lambda: api.ready()["checks"]["subscriber"], 5, "/ready", error=ScenarioFailed)
    expect(sub["alive"] and sub["subscribed"] and sub["reconnects"] >= 1, f"subscriber: {sub}")
    lost, duplicated = account(sim, api)
    return Outcome(
        "Redis killed for 10 s, trigger after restart",
        f"re-subscribed after {resubscribed:.2f} s, trigger ingested; reads served throughout",
        recovered,
        lost,
        duplicated,
    )


def triggers_lost_during_outage(lab: Lab) -> Outcome:
    """Redis down longer than an interval: the catch-up fetches after reconnect, no trigger sent."""
    sim = lab.simulator()
    api = lab.api(sim, UPDATE_INTERVAL_SECONDS="4")
    wait_for_data(api)
    before = api.last_ingest()["startedAt"]
    calls = len(sim.markets())
    lab.redis.stop()
    time.sleep(6)  # the data is now older than one interval
    lab.redis.restart()
    restarted = time.monotonic()
    report = wait_for_ingest(api, before, timeout=RECOVERY_LIMIT)
    recovered = time.monotonic() - restarted
    expect(report["reason"].startswith("catch-up"), f"not a catch-up: {report}")
    expect(report["outcome"] == "ok", f"catch-up ingest: {report}")
    expect(len(sim.markets()) == calls + 1, "the catch-up made more than one upstream call")
    lost, duplicated = account(sim, api)
    return Outcome(
        "Redis down 6 s > interval 4 s, no trigger sent",
        "catch-up fetch right after reconnect",
        recovered,
        lost,
        duplicated,
    )


def api_down_while_worker_ticks(lab: Lab) -> Outcome:
    """The worker's trigger finds no subscriber; the API started later fetches at once."""
    sim = lab.simulator()
    worker = lab.worker()
    wait_until(
        lambda: "no subscriber received it" in worker.log_text(),
        15,
        "the lost trigger",
        error=ScenarioFailed,
    )
    started = time.monotonic()
    api = lab.api(sim)
    wait_for_data(api)
    recovered = time.monotonic() - started
    report = api.last_ingest()
    expect(report["reason"].startswith("catch-up"), f"not a catch-up: {report}")
    worker_check = wait_until(
        lambda: api.ready()["checks"]["worker"], 5, "/ready", error=ScenarioFailed
    )
    expect(worker_check["ok"], f"worker heartbeat not seen: {worker_check}")
    lost, duplicated = account(sim, api)
    return Outcome(
        "API down while the worker ticks (trigger lost)",
        f"fresh data {recovered:.2f} s after API start, next tick in 3600 s",
        recovered,
        lost,
        duplicated,
    )


def trigger_burst_two_apis(lab: Lab) -> Outcome:
    """20 triggers within one second to two API processes: one upstream call per claim window."""
    sim = lab.simulator()
    claim = "2"
    first = lab.api(sim, name="api-1", INGEST_CLAIM_SECONDS=claim)
    second = lab.api(sim, name="api-2", INGEST_CLAIM_SECONDS=claim)
    wait_until(lambda: lab.subscribers() == 2, 10, "both APIs to subscribe", error=ScenarioFailed)
    # The second API's start-up catch-up finds the first's claim and is retried when it ends:
    # wait for both catch-ups, then for the last one's claim window to end.
    wait_for_data(first)
    wait_for_data(second)
    time.sleep(float(claim) + 0.2)
    calls = sim.total_calls()
    started = time.monotonic()
    for _ in range(20):
        expect(lab.publish() == 2, "a trigger missed a subscriber")
        time.sleep(0.045)
    burst = time.monotonic() - started
    wait_until(lambda: sim.total_calls() > calls, 10, "the burst's fetch", error=ScenarioFailed)
    time.sleep(float(claim))  # any second fetch would come within the claim window
    extra = sim.total_calls() - calls
    expect(extra == 1, f"{extra} upstream calls for 20 triggers in {burst:.2f} s")
    lost, duplicated = account(sim, first, second)
    expect(duplicated == 0, f"{duplicated} duplicate records")
    return Outcome(
        "20 triggers in 1 s, two API processes",
        f"1 upstream call for 20 triggers in {burst:.2f} s (claim window {claim} s)",
        None,
        lost,
        duplicated,
    )
