"""Fault scenarios of the upstream (CoinGecko misbehaving) and of an unreachable store."""

from __future__ import annotations

import statistics
import time
from typing import Any

import requests

from cryptostats_dev.fault_common import (
    UPSTREAM,
    Outcome,
    ScenarioFailed,
    account,
    expect,
    stats_of_last_good_fetch,
    wait_for_data,
    wait_for_ingest,
)
from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.procs import free_port, wait_until


def _upstream_fault(
    lab: Lab,
    mode: str,
    *,
    expect_outcome: str,
    api_env: dict[str, str] | None = None,
    **fault: Any,
) -> tuple[SimulatorProcess, Api, dict[str, Any], float]:
    """Start sim + API, store once, set a fault, trigger; return the ingest report and its time."""
    sim = lab.simulator()
    api = lab.api(sim, env=api_env)
    wait_for_data(api)
    before = api.last_ingest()["startedAt"]
    time.sleep(0.6)  # past the claim window of the start-up fetch
    sim.fault(mode, **fault)
    started = time.monotonic()
    expect(lab.publish() == 1, "the trigger reached no subscriber")
    report = wait_for_ingest(api, before, timeout=30)
    took = time.monotonic() - started
    expect(report["outcome"] == expect_outcome, f"{mode}: expected {expect_outcome}, got {report}")
    return sim, api, report, took


def _recover(lab: Lab, api: Api, sim: SimulatorProcess, report: dict[str, Any]) -> float:
    """Publish the next trigger; return seconds until an ingest stores every coin again."""
    time.sleep(0.6)
    started = time.monotonic()
    expect(lab.publish() == 1, "the trigger reached no subscriber")
    again = wait_for_ingest(api, report["startedAt"])
    expect(again["outcome"] == "ok", f"next trigger did not recover: {again}")

    # The ingest report is written before the "ingested" announcement the read model reloads on.
    def refreshed() -> bool:
        return all(api.stats(c) == stats_of_last_good_fetch(sim, c) for c in UPSTREAM)

    wait_until(refreshed, 5, "every coin refreshed after the next trigger", error=ScenarioFailed)
    return time.monotonic() - started


def _served_statuses(sim: SimulatorProcess) -> str:
    return ",".join(str(entry["status"]) for entry in sim.markets()[1:])


def _unchanged_since_fault(api: Api, sim: SimulatorProcess, coins: list[str]) -> None:
    for coin in coins:
        expect(api.stats(coin) == stats_of_last_good_fetch(sim, coin), f"{coin} changed")


def upstream_rate_limit(lab: Lab) -> Outcome:
    """429 with Retry-After: 1, once: the retry waits and the same ingest stores everything."""
    sim, api, report, took = _upstream_fault(
        lab, "rate_limit", count=1, retry_after=1, expect_outcome="ok"
    )
    expect(took >= 1.0, f"retried after {took:.2f} s, before Retry-After")
    expect(_served_statuses(sim) == "429,200", f"served {_served_statuses(sim)}")
    lost, dup = account(sim, api)
    return Outcome("upstream 429, Retry-After: 1", f"waited, retried, stored ({took:.1f} s)",
                   took, lost, dup)  # fmt: skip


def upstream_rate_limit_long(lab: Lab) -> Outcome:
    """429 asking for 119 s: no retry now, reported, next trigger stores again."""
    sim, api, report, took = _upstream_fault(
        lab, "rate_limit", count=1, retry_after=119, expect_outcome="upstream_error"
    )
    expect(took < 2.0, f"the ingest stalled {took:.2f} s on a 119 s Retry-After")
    expect("rate_limited" in report["errors"][0], f"reported {report['errors']}")
    recovered = _recover(lab, api, sim, report)
    lost, dup = account(sim, api)
    return Outcome("upstream 429, Retry-After: 119", f"gave up in {took:.2f} s (reported "
                   "rate_limited), next trigger stored", recovered, lost, dup, True)  # fmt: skip


def upstream_rate_limit_reset(lab: Lab) -> Outcome:
    """429 with only x-ratelimit-* headers: the retry waits until the reset time."""
    sim, api, report, took = _upstream_fault(lab, "rate_limit_reset", count=1, expect_outcome="ok")
    expect(_served_statuses(sim) == "429,200", f"served {_served_statuses(sim)}")
    lost, dup = account(sim, api)
    return Outcome("upstream 429, only x-ratelimit-reset", f"waited for the reset, stored "
                   f"({took:.1f} s)", took, lost, dup)  # fmt: skip


def upstream_server_error(lab: Lab) -> Outcome:
    """Two 500s: exponential backoff with jitter, the third attempt stores."""
    sim, api, report, took = _upstream_fault(lab, "server_error", count=2, expect_outcome="ok")
    expect(_served_statuses(sim) == "500,500,200", f"served {_served_statuses(sim)}")
    lost, dup = account(sim, api)
    return Outcome("upstream 500 twice", f"backed off, third attempt stored ({took:.1f} s)",
                   took, lost, dup)  # fmt: skip


def upstream_slow(lab: Lab) -> Outcome:
    """Answers held 15 s with a 10 s interval: each attempt times out, the call stays in budget."""
    sim, api, report, took = _upstream_fault(
        lab,
        "slow",
        delay=15,
        expect_outcome="upstream_error",
        api_env={"UPDATE_INTERVAL_SECONDS": "10"},
    )
    expect("timeout" in report["errors"][0], f"reported {report['errors']}")
    expect(took <= 5.5, f"a slow upstream held the ingest {took:.2f} s (budget 5 s)")
    requests.delete(f"{sim.url}/_sim/fault", timeout=5).raise_for_status()
    recovered = _recover(lab, api, sim, report)
    lost, dup = account(sim, api)
    return Outcome("upstream slower than the timeout (interval 10 s)", f"timed out within "
                   f"the 5 s budget ({took:.1f} s), next trigger stored",
                   recovered, lost, dup, True)  # fmt: skip


def upstream_html(lab: Lab) -> Outcome:
    """A Cloudflare HTML page with 200: rejected whole, nothing stored, reported."""
    sim, api, report, took = _upstream_fault(lab, "html", count=1, expect_outcome="upstream_error")
    expect("not_json" in report["errors"][0], f"reported {report['errors']}")
    expect(report["stored"] == [], "stored something from an HTML page")
    _unchanged_since_fault(api, sim, list(UPSTREAM))
    recovered = _recover(lab, api, sim, report)
    lost, dup = account(sim, api)
    return Outcome("upstream HTML page with 200", "rejected whole, reported not_json; "
                   "next trigger stored", recovered, lost, dup, True)  # fmt: skip


def upstream_error_200(lab: Lab) -> Outcome:
    """An error JSON object with 200: rejected whole, nothing stored, reported."""
    sim, api, report, took = _upstream_fault(
        lab, "error_200", count=1, expect_outcome="upstream_error"
    )
    expect("error_body" in report["errors"][0], f"reported {report['errors']}")
    _unchanged_since_fault(api, sim, list(UPSTREAM))
    recovered = _recover(lab, api, sim, report)
    lost, dup = account(sim, api)
    return Outcome("upstream error JSON with 200", "rejected whole, reported error_body; "
                   "next trigger stored", recovered, lost, dup, True)  # fmt: skip


def upstream_missing_coins(lab: Lab) -> Outcome:
    """bitcoin missing from the answer: skipped and reported, the other coins stored."""
    sim, api, report, took = _upstream_fault(
        lab, "missing_coins", count=1, coins=["bitcoin"], expect_outcome="partial"
    )
    expect(list(report["skipped"]) == ["bitcoin"], f"skipped {report['skipped']}")
    expect(sorted(report["stored"]) == ["ethereum", "matic-network"], f"{report['stored']}")
    _unchanged_since_fault(api, sim, list(UPSTREAM))
    lost, dup = account(sim, api)
    return Outcome("upstream answer misses bitcoin", "bitcoin skipped and reported, "
                   "others stored", None, lost, dup)  # fmt: skip


def upstream_null_fields(lab: Lab) -> Outcome:
    """ethereum with null price, market cap and change: skipped, nothing null stored."""
    sim, api, report, took = _upstream_fault(
        lab, "null_fields", count=1, coins=["ethereum"], expect_outcome="partial"
    )
    expect("null" in report["skipped"].get("ethereum", ""), f"skipped {report['skipped']}")
    body = api.stats("ethereum")
    expect(all(isinstance(body[k], float | int) for k in body), f"ethereum serves {body}")
    _unchanged_since_fault(api, sim, list(UPSTREAM))
    lost, dup = account(sim, api)
    return Outcome("upstream nulls for ethereum", "ethereum skipped and reported, "
                   "no null stored", None, lost, dup)  # fmt: skip


# --- store ------------------------------------------------------------------------------------


def store_unreachable(lab: Lab) -> Outcome:
    """MONGO_URI where nothing listens: reads 503 quickly, /health 200, /ready names the store."""
    sim = lab.simulator()
    uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    api = lab.api(sim, MONGO_URI=uri, API_WORKERS="1")
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        response = api.get("/api/stats?coin=bitcoin")
        timings.append(time.perf_counter() - started)
        expect(response.status_code == 503, f"read answered {response.status_code}")
        expect("unavailable" in response.json()["error"], f"body {response.text}")
    expect(api.get("/health").status_code == 200, "/health is not 200 with the store down")
    ready = api.get("/ready")
    checks = ready.json()["checks"]
    expect(ready.status_code == 503 and not checks["store"]["ok"], f"/ready: {ready.text}")
    report = wait_until(
        lambda: api.last_ingest().get("outcome") and api.last_ingest(),
        20,
        "ingest",
        error=ScenarioFailed,
    )
    expect(report["outcome"] == "store_error", f"ingest report {report}")
    return Outcome(
        "MongoDB unreachable (nothing listens)",
        f"reads 503: first (initial load) {timings[0]:.2f} s, then median "
        f"{statistics.median(timings[1:]) * 1000:.0f} ms, max {max(timings[1:]) * 1000:.0f} ms;"
        " /health 200, /ready names the store; ingest reported store_error",
        None,
        None,
        None,
    )
