"""Fault scenarios against real processes: redis-server, the simulator, the API, the worker.

Each scenario starts what it needs in a `Lab`, breaks something, checks what the service stored and
reported, and returns one `Outcome` row; a failed check raises `ScenarioFailed`. The same
functions back `tests/integration/test_faults.py` and `make faults` (`python -m
cryptostats_dev.faults`), which prints the table kept in docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cryptostats_dev.lab import Api, Lab, Simulator, lab_for
from cryptostats_dev.procs import RedisServer, free_port
from cryptostats_dev.procs import wait_until as procs_wait_until

UPSTREAM = {
    "bitcoin": "bitcoin",
    "ethereum": "ethereum",
    "matic-network": "polygon-ecosystem-token",
}
"""The default tracked coins and their CoinGecko ids."""

REDIS_OUTAGE_SECONDS = 10.0
"""How long the Redis restart scenario keeps Redis down."""

RECOVERY_LIMIT = 5.0
"""Seconds after Redis returns within which a trigger must be ingested."""


class ScenarioFailed(AssertionError):
    """A scenario saw behaviour the service promises not to have."""


def expect(condition: object, message: str) -> None:
    """Raise ScenarioFailed with message unless condition holds."""
    if not condition:
        raise ScenarioFailed(message)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll condition until it returns something truthy; raise ScenarioFailed after timeout."""
    return procs_wait_until(condition, timeout, what, error=ScenarioFailed)


@dataclass
class Outcome:
    """One row of the fault table."""

    scenario: str
    outcome: str
    recover_seconds: float | None = None
    lost: int | None = None
    duplicated: int | None = None
    after_next_trigger: bool = False
    """Whether recovery waited for the next trigger (recover_seconds counts from that trigger)."""


# --- accounting -------------------------------------------------------------------------------


def valid_served(sim: Simulator) -> dict[str, set[str]]:
    """Distinct valid observations (by last_updated) the simulator served, per public coin."""
    by_coin: dict[str, set[str]] = {coin: set() for coin in UPSTREAM}
    for entry in sim.markets():
        if entry["status"] != 200:
            continue
        for coin, upstream in UPSTREAM.items():
            row = entry["coins"].get(upstream)
            if row and row["current_price"] is not None and row["market_cap"] is not None:
                if row["price_change_percentage_24h"] is not None:
                    by_coin[coin].add(row["last_updated"])
    return by_coin


def account(sim: Simulator, *apis: Api) -> tuple[int, int]:
    """Return (lost, duplicated) records: valid served observations vs records stored."""
    served = valid_served(sim)
    stored = {coin: 0 for coin in UPSTREAM}
    for api in apis:
        for coin, count in api.samples().items():
            stored[coin] += count
    lost = sum(max(0, len(served[c]) - stored[c]) for c in UPSTREAM)
    duplicated = sum(max(0, stored[c] - len(served[c])) for c in UPSTREAM)
    return lost, duplicated


def wait_for_data(api: Api, timeout: float = 15) -> None:
    wait_until(
        lambda: all(api.get(f"/api/stats?coin={c}").status_code == 200 for c in UPSTREAM),
        timeout,
        "data for every coin",
    )


def wait_for_ingest(api: Api, after: str | None, timeout: float = 20) -> dict[str, Any]:
    """Wait for an ingest report newer than `after` (a startedAt) and return it."""

    def newer() -> dict[str, Any] | None:
        report = api.last_ingest()
        started = report.get("startedAt")
        return report if started and started != after else None

    found: dict[str, Any] = wait_until(newer, timeout, "a new ingest report")
    return found


def stats_of_last_good_fetch(sim: Simulator, coin: str) -> dict[str, Any]:
    """The values the simulator last served for coin with a 200 and valid fields."""
    for entry in reversed(sim.markets()):
        row = entry["coins"].get(UPSTREAM[coin]) if entry["status"] == 200 else None
        if row and row["current_price"] is not None:
            return {
                "price": row["current_price"],
                "marketCap": row["market_cap"],
                "24hChange": row["price_change_percentage_24h"],
            }
    raise ScenarioFailed(f"the simulator never served {coin}")


# --- broker and subscriber --------------------------------------------------------------------


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
    wait_until(lambda: lab.subscribers() >= 1, RECOVERY_LIMIT, "the subscriber to come back")
    resubscribed = time.monotonic() - restarted
    expect(lab.publish() == 1, "the trigger reached no subscriber")
    report = wait_for_ingest(api, before, timeout=RECOVERY_LIMIT)
    recovered = time.monotonic() - restarted
    expect(report["outcome"] == "ok", f"ingest after the restart: {report}")
    expect(recovered <= RECOVERY_LIMIT, f"ingested {recovered:.2f} s after the restart")
    sub = wait_until(lambda: api.ready()["checks"]["subscriber"], 5, "/ready")
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
    wait_until(lambda: "no subscriber received it" in worker.log_text(), 15, "the lost trigger")
    started = time.monotonic()
    api = lab.api(sim)
    wait_for_data(api)
    recovered = time.monotonic() - started
    report = api.last_ingest()
    expect(report["reason"].startswith("catch-up"), f"not a catch-up: {report}")
    worker_check = wait_until(lambda: api.ready()["checks"]["worker"], 5, "/ready")
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
    wait_until(lambda: lab.subscribers() == 2, 10, "both APIs to subscribe")
    time.sleep(float(claim) + 0.2)  # let the start-up claim expire
    calls = sim.total_calls()
    started = time.monotonic()
    for _ in range(20):
        expect(lab.publish() == 2, "a trigger missed a subscriber")
        time.sleep(0.045)
    burst = time.monotonic() - started
    wait_until(lambda: sim.total_calls() > calls, 10, "the burst's fetch")
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


# --- upstream ---------------------------------------------------------------------------------


def _upstream_fault(
    lab: Lab,
    mode: str,
    *,
    expect_outcome: str,
    api_env: dict[str, str] | None = None,
    **fault: Any,
) -> tuple[Simulator, Api, dict[str, Any], float]:
    """Start sim + API, store once, set a fault, trigger; return the ingest report and its time."""
    sim = lab.simulator()
    api = lab.api(sim, **(api_env or {}))
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


def _recover(lab: Lab, api: Api, sim: Simulator, report: dict[str, Any]) -> float:
    """Publish the next trigger; return seconds until an ingest stores every coin again."""
    time.sleep(0.6)
    started = time.monotonic()
    expect(lab.publish() == 1, "the trigger reached no subscriber")
    again = wait_for_ingest(api, report["startedAt"])
    expect(again["outcome"] == "ok", f"next trigger did not recover: {again}")
    for coin in UPSTREAM:
        expect(api.stats(coin) == stats_of_last_good_fetch(sim, coin), f"{coin} not refreshed")
    return time.monotonic() - started


def _served_statuses(sim: Simulator) -> str:
    return ",".join(str(entry["status"]) for entry in sim.markets()[1:])


def _unchanged_since_fault(api: Api, sim: Simulator, coins: list[str]) -> None:
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
        lambda: api.last_ingest().get("outcome") and api.last_ingest(), 20, "ingest"
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


# --- hostile input ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRequest:
    """One hostile request, sent as raw bytes so nothing normalises it."""

    name: str
    raw: bytes


def _get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


HOSTILE_REQUESTS = [
    BadRequest("coin missing", _get(b"/api/stats")),
    BadRequest("coin empty", _get(b"/api/stats?coin=")),
    BadRequest("coin whitespace", _get(b"/api/deviation?coin=%20%09%20")),
    BadRequest("coin 10,000 chars", _get(b"/api/stats?coin=" + b"a" * 10_000)),
    BadRequest("other param 10,000 chars", _get(b"/api/stats?coin=bitcoin&x=" + b"b" * 10_000)),
    BadRequest("query string 100 KB", _get(b"/api/stats?coin=" + b"%41" * 34_000)),
    BadRequest("unicode coin (percent-encoded)", _get(b"/api/stats?coin=%E2%82%BFitcoin")),
    BadRequest("unicode coin (raw UTF-8)", _get("/api/stats?coin=₿itcoin".encode())),
    BadRequest("control characters (encoded)", _get(b"/api/stats?coin=%01%1b%7f")),
    BadRequest("control characters (raw)", _get(b"/api/stats?coin=\x01\x1b")),
    BadRequest("null byte %00", _get(b"/api/stats?coin=bitcoin%00")),
    BadRequest("null byte raw", _get(b"/api/stats?coin=bit\x00coin")),
    BadRequest("coin[$ne]=x", _get(b"/api/stats?coin[$ne]=x")),
    BadRequest("coin[$ne]=x encoded", _get(b"/api/stats?coin%5B%24ne%5D=x")),
    BadRequest('coin={"$gt":""}', _get(b"/api/stats?coin=%7B%22%24gt%22%3A%22%22%7D")),
    BadRequest("coin repeated", _get(b"/api/stats?coin=bitcoin&coin=ethereum")),
    BadRequest("percent %zz", _get(b"/api/stats?coin=%zz")),
    BadRequest("lone percent", _get(b"/api/stats?coin=%")),
    BadRequest("overlong UTF-8 %c0%ae", _get(b"/api/stats?coin=%c0%ae%c0%ae")),
    BadRequest("invalid UTF-8 %ff", _get(b"/api/stats?coin=%ff")),
    BadRequest("raw space in target", _get(b"/api/stats?coin=bit coin")),
    BadRequest("path traversal", _get(b"/api/../../etc/passwd")),
    BadRequest("unknown path", _get(b"/api/nope")),
    BadRequest("POST", b"POST /api/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"),
    BadRequest("DELETE", b"DELETE /api/deviation?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("unknown method", b"BREW /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("lowercase method", b"get /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    BadRequest("HTTP/9.9", b"GET /api/stats?coin=bitcoin HTTP/9.9\r\nHost: x\r\n\r\n"),
    BadRequest("malformed header", b"GET /api/stats HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"),
    BadRequest("header 9 KB", b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"),
    BadRequest("bad Content-Length", b"GET /health HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
    BadRequest("body too large", b"POST /health HTTP/1.1\r\nContent-Length: 9000\r\n\r\n"),
    BadRequest("request line 9 KB (gunicorn's limit)", _get(b"/api/stats?coin=" + b"a" * 9000)),
    BadRequest("query string 5 KB (the app's limit)", _get(b"/api/stats?coin=" + b"a" * 5000)),
    BadRequest("// in the path, Host: evil.example",
               b"GET /api//stats?coin=bitcoin HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    BadRequest("malformed chunked body", b"POST /api/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:"
               b" chunked\r\nConnection: close\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"),
    BadRequest("chunked body over 4 KiB", b"POST /api/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:"
               b" chunked\r\nConnection: close\r\n\r\n1400\r\n{\"query\": \"bitcoin\"}"
               + b" " * 5100 + b"\r\n0\r\n\r\n"),
]  # fmt: skip
"""Requests that must each get a JSON 4xx from the served API: never a 5xx, never HTML."""


@dataclass(frozen=True)
class RawAnswer:
    status: int
    content_type: str
    body: bytes


def send_raw(host: str, port: int, raw: bytes, timeout: float = 10) -> RawAnswer:
    """Send raw bytes on a fresh connection and parse the first response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return RawAnswer(status, headers.get("content-type", ""), body)


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":", 1)[1])
    return 1 << 30


def check_hostile(api: Api, bad: BadRequest) -> RawAnswer:
    """Send one hostile request; raise ScenarioFailed unless it gets a JSON 4xx error."""
    host, port = api.url.removeprefix("http://").split(":")
    answer = send_raw(host, int(port), bad.raw)
    expect(400 <= answer.status < 500, f"{bad.name}: HTTP {answer.status}")
    expect(answer.content_type.startswith("application/json"), f"{bad.name}: {answer}")
    expect(b"<html" not in answer.body.lower(), f"{bad.name}: HTML body")
    expect(b'"error"' in answer.body, f"{bad.name}: no error key in {answer.body[:200]!r}")
    return answer


def hostile_input(lab: Lab) -> Outcome:
    """Every request of HOSTILE_REQUESTS against the gunicorn-served API."""
    api = lab.api(None, COINGECKO_API_URL="http://127.0.0.1:9")
    statuses: dict[int, int] = {}
    for bad in HOSTILE_REQUESTS:
        answer = check_hostile(api, bad)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    expect(api.get("/health").status_code == 200, "the API stopped serving")
    shown = ", ".join(f"{count}x{status}" for status, count in sorted(statuses.items()))
    return Outcome(
        f"{len(HOSTILE_REQUESTS)} hostile HTTP requests (raw sockets)",
        f"all JSON 4xx ({shown}); no 5xx, no HTML",
    )


# --- the table --------------------------------------------------------------------------------

Scenario = Callable[[Lab], Outcome]

SCENARIOS: list[Scenario] = [
    redis_restart,
    triggers_lost_during_outage,
    api_down_while_worker_ticks,
    trigger_burst_two_apis,
    upstream_rate_limit,
    upstream_rate_limit_long,
    upstream_rate_limit_reset,
    upstream_server_error,
    upstream_slow,
    upstream_html,
    upstream_error_200,
    upstream_missing_coins,
    upstream_null_fields,
    store_unreachable,
    hostile_input,
]
"""Every scenario, in the order of the table."""


def _cell(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f} s" if isinstance(value, float) else str(value)


def render_table(outcomes: list[Outcome]) -> str:
    """Return the outcomes as a Markdown table."""

    def recovery(out: Outcome) -> str:
        cell = _cell(out.recover_seconds)
        return f"next trigger + {cell}" if out.after_next_trigger else cell

    rows = [
        "| scenario | outcome | time to recover | records lost | records duplicated |",
        "|---|---|---|---|---|",
    ]
    for out in outcomes:
        cells = [out.scenario, out.outcome, recovery(out)]
        cells += [_cell(out.lost), _cell(out.duplicated)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def run_all(logs: Path, names: list[str] | None = None) -> tuple[list[Outcome], int]:
    """Run the scenarios (all, or those named), each with its own redis-server."""
    outcomes, failures = [], 0
    for scenario in SCENARIOS:
        if names and scenario.__name__ not in names:
            continue
        started = time.monotonic()
        with RedisServer() as server, lab_for(server, logs / scenario.__name__) as lab:
            try:
                outcome = scenario(lab)
            except ScenarioFailed as exc:
                failures += 1
                outcome = Outcome(scenario.__name__, f"FAILED: {exc}")
        print(f"{scenario.__name__}: {outcome.outcome} ({time.monotonic() - started:.1f} s)",
              file=sys.stderr, flush=True)  # fmt: skip
        outcomes.append(outcome)
    return outcomes, failures


def main(argv: list[str] | None = None) -> int:
    """Run the fault scenarios against real processes and print the table; exit 1 on a failure."""
    parser = argparse.ArgumentParser(prog="faults", description=main.__doc__)
    parser.add_argument("scenario", nargs="*", help="run only these (function names)")
    parser.add_argument("--logs", type=Path, help="keep process logs here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cryptostats-faults-") as tmp:
        outcomes, failures = run_all(args.logs or Path(tmp), args.scenario)
    print(render_table(outcomes))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
