"""The proxy bench's pure parts: wrk parsing, targets and its BENCHMARKS.md section."""

from __future__ import annotations

from pathlib import Path

from cryptostats_dev.bench_proxy import (
    SECTION_END,
    SECTION_START,
    Row,
    Wrk,
    parse_wrk,
    render,
    write_section,
)

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:1/api/stats?coin=bitcoin
  2 threads and 32 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.01ms
     99%    4.50ms
  40000 requests in 5.00s, 9.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   8000.12
"""


def test_parse_wrk_reads_rate_percentiles_and_bad_answers() -> None:
    assert parse_wrk(WRK_OUTPUT) == Wrk(rps=8000.12, p50_ms=0.812, p99_ms=4.5, bad=3)


def row(proxied_rps: float, p99: float, wrong: list[str] | None = None) -> Row:
    direct = Wrk(rps=1000, p50_ms=1, p99_ms=10, bad=0)
    return Row("/api/stats?coin=bitcoin", direct, Wrk(proxied_rps, 1, p99, 0), 10, wrong or [])


def test_targets_need_speed_latency_and_correct_answers() -> None:
    assert row(5000, 4.9).met
    assert not row(4999, 1).met, "under 5x"
    assert not row(9000, 5.0).met, "p99 not under 5 ms"
    assert not row(9000, 1, ["stale"]).met, "a wrong answer"
    unchecked = row(9000, 1)
    unchecked.checked = 0
    assert not unchecked.met, "no answer checked"


def test_the_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nbench.py's tables\n")
    write_section(render([row(9000, 1)], [], 5, 32), report)
    write_section(render([row(6000, 2)], [], 5, 32), report)
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nbench.py's tables\n")
    assert text.count(SECTION_START) == 1 and text.count(SECTION_END) == 1
    assert "6,000" in text and "9,000" not in text
