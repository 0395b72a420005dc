"""The report of `make bench`: measured figures, target verdicts, machine, exact commands.

Everything in it is generated from one run; the method and its analysis are hand-written in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from cryptostats_dev.bench_results import (
    CLAIM_SECONDS,
    ENDPOINTS,
    HISTORY_TARGET,
    TRIGGER_GAP,
    IngestTiming,
    Results,
    Throughput,
)


def render_tables(results: Results) -> str:
    """Return the results as one Markdown table, plus the ingest rows and the target verdicts."""
    baselines = {t.history: t for t in results.throughput if t.path == "/health"}
    lines = [
        "| measurement | history / coin | req/s | p50 ms | p99 ms | req/s vs baseline "
        "| p99 vs baseline | req/s per pass |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results.throughput:
        base = baselines[row.history]
        flags = _bad_flags(row)
        lines.append(
            f"| {row.endpoint}{flags} | {row.history:,} | {row.rps:,.0f} | {row.p50:.2f} "
            f"| {row.p99:.2f} | {row.rps / base.rps:.2f}x | {row.p99 / base.p99:.2f}x "
            f"| {' / '.join(f'{r.requests_per_second:,.0f}' for r in row.runs)} |"
        )
    for timing in results.ingest:
        median = statistics.median(timing.served_ms)
        calls = statistics.median(timing.calls)
        check = "" if not timing.mismatches else f" ({timing.mismatches} price mismatches)"
        lines.append(
            f"| trigger to served, {timing.coins:,} coins{_crossing(timing)}, median of "
            f"{len(timing.served_ms)}{check} | {timing.history:,} | | {median:.1f} "
            f"| {max(timing.served_ms):.1f} (max) "
            "| | | |"
        )
        lines.append(
            f"| upstream calls per trigger, {timing.coins:,} coins (expected "
            f"{timing.expected_calls}) | {timing.history:,} | {calls:g} | | | | | |"
        )
    return "\n".join(lines)


def _crossing(timing: IngestTiming) -> str:
    return f", {timing.alerts:,} alerts crossing" if timing.alerts else ""


def _bad_flags(row: Throughput) -> str:
    bad = sum(r.bad_responses for r in row.runs)
    errors = [r.socket_errors for r in row.runs if r.socket_errors]
    notes = []
    if bad:
        notes.append(f"{bad} non-2xx")
    if errors:
        notes.append("socket errors: " + "; ".join(errors))
    return f" ({', '.join(notes)})" if notes else ""


def verdicts(results: Results) -> list[str]:
    """Return one line per target: met or missed, with the figures and by how much."""
    out = []
    baselines = {t.history: t for t in results.throughput if t.path == "/health"}
    for row in results.throughput:
        if row.path == "/health":
            continue
        base = baselines[row.history]
        rps_ratio, p99_ratio = row.rps / base.rps, row.p99 / base.p99
        target = HISTORY_TARGET if row.endpoint.startswith("/api/history days") else 0.8
        out.append(
            _verdict(
                rps_ratio >= target and (target < 0.8 or p99_ratio <= 1.5),
                f"{row.endpoint} at {row.history:,} records: {rps_ratio:.2f}x baseline req/s "
                f"(target >= {target}x), p99 {p99_ratio:.2f}x baseline",
            )
        )
    histories = sorted({t.history for t in results.throughput})
    if len(histories) >= 2:
        small, large = histories[0], histories[-1]
        by_key = {(t.path, t.history): t for t in results.throughput}
        for label, path in ENDPOINTS[1:]:
            change = by_key[(path, large)].rps / by_key[(path, small)].rps - 1
            out.append(
                _verdict(
                    abs(change) <= 0.10,
                    f"{label}: {large:,} vs {small:,} records, req/s {change:+.1%} "
                    "(target within 10%)",
                )
            )
    for timing in results.ingest:
        median = statistics.median(timing.served_ms)
        if timing.coins == 3:
            out.append(
                _verdict(
                    median < 500,
                    f"trigger to served, {timing.history:,} records{_crossing(timing)}: "
                    f"median {median:.1f} ms "
                    "(target < 500 ms)",
                )
            )
        calls = statistics.median(timing.calls)
        out.append(
            _verdict(
                calls == timing.expected_calls and timing.mismatches == 0,
                f"upstream calls per trigger, {timing.coins:,} coins: {calls:g} "
                f"(target ceil({timing.coins}/250) = {timing.expected_calls})"
                + (f"; {timing.mismatches} served prices differed" if timing.mismatches else ""),
            )
        )
    return out


def _verdict(met: bool, text: str) -> str:
    return f"- {'met' if met else 'MISSED'}: {text}"


def environment() -> list[str]:
    """Describe the machine and the versions, for the report."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    versions = {name: _version(name) for name in ("flask", "gunicorn", "mongomock", "redis")}
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{name} {v}" for name, v in versions.items()),
        f"- {_tool_version(['wrk', '-v'])}; {_tool_version(['redis-server', '--version'])}",
        "- load average at the end of the run (1 / 5 / 15 min): "
        + " / ".join(f"{load:.2f}" for load in os.getloadavg())
        + " (the bench alone keeps about 2 cores busy; more means other processes competed)",
    ]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return f"{cmd[0]}: not installed"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else cmd[0]


def configuration(results: Results) -> list[str]:
    """Describe what the run did, from its configuration (no prose fixed here)."""
    config = results.config
    return [
        f"- history rounds (records per coin): {', '.join(f'{h:,}' for h in config.histories)}",
        f"- wrk: {config.threads} threads, {config.connections} connections, "
        f"{config.duration} s per run, {config.passes} pass(es) per endpoint",
        f"- ingest: {config.triggers} triggers per history round, "
        f"INGEST_CLAIM_SECONDS={CLAIM_SECONDS}, {TRIGGER_GAP} s between triggers",
        f"- upstream-calls round: {config.many_coins:,} tracked coins, "
        f"{config.many_triggers} triggers",
    ]


def report(results: Results) -> str:
    """Return BENCHMARKS.md: generated figures and the commands that produced them."""
    config = results.config
    wrk_commands = sorted({r.command for t in results.throughput for r in t.runs})
    wrk_shown = [
        re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:$PORT", c) for c in wrk_commands
    ]
    rerun = "make bench" + ("  # --quick" if config.quick else "")
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Generated by `{rerun}` (`python -m cryptostats_dev.bench`); rerun it to refresh. "
            "The method and the analysis of these figures are in "
            "[docs/PERFORMANCE.md](docs/PERFORMANCE.md).",
            "",
            *environment(),
            "",
            "## Configuration",
            "",
            *configuration(results),
            "",
            "## Results",
            "",
            render_tables(results),
            "",
            "## Targets",
            "",
            *verdicts(results),
            "",
            "## Commands",
            "",
            "```",
            *results.commands,
            *wrk_shown,
            "```",
            "",
        ]
    )
