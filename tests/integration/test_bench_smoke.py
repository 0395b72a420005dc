"""`make bench` runs end to end on a tiny configuration (no figure is asserted)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cryptostats_dev.procs import ManagedProcess, python_module_cmd

pytestmark = pytest.mark.integration

BENCH_TIMEOUT = 150.0
"""Seconds the tiny bench gets; it takes about 30 s on two cores."""


@pytest.mark.timeout(BENCH_TIMEOUT + 30)
def test_bench_runs_on_a_tiny_configuration(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed: run `sudo make system-deps`")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: run `sudo make system-deps`")
    report = tmp_path / "BENCHMARKS.md"
    cmd = python_module_cmd(
        "cryptostats_dev.bench",
        "--quick",
        "--histories", "100,300",
        "--triggers", "3",
        "--many-coins", "260",
        "--output", str(report),
    )  # fmt: skip
    bench = ManagedProcess(cmd, name="bench", log_path=tmp_path / "bench.log")
    try:
        code = bench.wait(timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bench did not finish in {BENCH_TIMEOUT} s:\n{bench.log_tail()}")
    finally:
        bench.stop()
    output = bench.log_text()
    assert code == 0, output[-4000:]

    printed = output[output.index("| measurement |") :]
    for history in ("100", "300"):
        for endpoint in ("baseline /health", "/api/stats", "/api/deviation"):
            row = rf"^\| {re.escape(endpoint)} \| {history} \| [\d,]+ \| [\d.]+ \| [\d.]+ \|"
            assert re.search(row, printed, re.MULTILINE), f"no {endpoint} row at {history}"
        assert re.search(
            rf"^\| trigger to served, 3 coins, median of 3 \| {history} \|", printed, re.M
        )
    assert "upstream calls per trigger, 3 coins (expected 1)" in printed
    assert re.search(
        r"^\| trigger to served, 3 coins, 1,000 alerts crossing, median of 3 \| 0 \|", printed, re.M
    )
    assert re.search(
        r"^\| upstream calls per trigger, 260 coins \(expected 2\) \| 0 \| \d", printed, re.M
    )
    assert re.search(r"^- (met|MISSED): ", printed, re.MULTILINE)
    written = report.read_text(encoding="utf-8")
    assert "## Results" in written and "wrk -t2 -c32 -d1s --latency" in written
    assert "cryptostats_dev.bench_app:create_app()" in written
    assert "docs/PERFORMANCE.md" in written and "## Analysis" not in written


@pytest.mark.timeout(BENCH_TIMEOUT + 30)
def test_the_proxy_bench_runs_and_checks_answers(tmp_path: Path) -> None:
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: run `sudo make system-deps`")
    from cryptostats_dev.nginx import NginxMissing, nginx_binary

    try:
        nginx_binary()
    except NginxMissing as exc:
        pytest.skip(f"nginx is not installed ({exc})")
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n")
    cmd = python_module_cmd(
        "cryptostats_dev.bench_proxy", "--duration", "2", "--output", str(report)
    )
    bench = ManagedProcess(cmd, name="bench-proxy", log_path=tmp_path / "bench-proxy.log")
    try:
        code = bench.wait(timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the proxy bench did not finish in {BENCH_TIMEOUT} s:\n{bench.log_tail()}")
    finally:
        bench.stop()
    assert code in (0, 1), bench.log_tail()  # 1: a target missed on a busy machine
    text = report.read_text()
    rows = re.findall(
        r"^\| `(/api/\w+)\?coin=bitcoin` \|.*\| (\d+) \| (\d+) \| (met|MISSED) \|$", text, re.M
    )
    assert [row[0] for row in rows] == ["/api/stats", "/api/deviation"], text
    for _, checked, wrong, _ in rows:
        assert int(checked) > 0 and int(wrong) == 0, text
