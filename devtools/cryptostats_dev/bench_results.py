"""What one `make bench` run measures: its configuration, wrk results and ingest timings."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

PAGE_SIZE = 250
"""Coins per `/coins/markets` call, so the expected calls per trigger are ceil(coins / 250)."""

CLAIM_SECONDS = 0.2
"""INGEST_CLAIM_SECONDS for the bench, so triggers can be spaced closely."""

TRIGGER_GAP = 0.3
"""Seconds between a trigger's data being served and the next publish (beyond the claim)."""

SERVE_TIMEOUT = 30.0
"""Seconds a trigger's data gets to be served before the bench gives up on it."""

POLL_INTERVAL = 0.005
"""Seconds between two polls of /api/stats while a trigger is in flight."""

START_TIMEOUT = 120.0
"""Seconds the API gets to load its history and answer."""

PROBE_COIN = "bitcoin"
"""The coin the throughput and ingest measurements ask for."""

MANY_COINS = 1000
"""Tracked coins for the upstream-calls measurement (the simulator knows 1,200 synthetic ones)."""

ROOT = Path(__file__).resolve().parents[2]
"""The repository root, where BENCHMARKS.md is written."""

TARGETS = (
    "/api/stats and /api/deviation: req/s at least 0.8x the baseline's, p99 at most 1.5x",
    "100,000 records vs 100 per coin: req/s within 10% on both endpoints",
    "trigger to served: median under 500 ms with the simulator",
    "upstream calls per trigger: ceil(coins / 250) with /coins/markets",
)


@dataclass(frozen=True)
class Config:
    """What one bench run does."""

    histories: tuple[int, ...] = (100, 100_000)
    duration: int = 10
    connections: int = 32
    threads: int = 2
    passes: int = 3
    triggers: int = 20
    many_coins: int = MANY_COINS
    many_triggers: int = 5
    output: Path | None = ROOT / "BENCHMARKS.md"
    quick: bool = False


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    command: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    bad_responses: int
    socket_errors: str


@dataclass
class Throughput:
    """An endpoint's wrk results in one history round (one per pass)."""

    endpoint: str
    path: str
    history: int
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.requests_per_second for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)


@dataclass
class IngestTiming:
    """Trigger-to-served times and upstream calls for one stack configuration."""

    coins: int
    history: int
    served_ms: list[float] = field(default_factory=list)
    alerts: int = 0
    """Alerts on the probe coin crossing at each measured trigger."""
    calls: list[int] = field(default_factory=list)
    mismatches: int = 0

    @property
    def expected_calls(self) -> int:
        return math.ceil(self.coins / PAGE_SIZE)


@dataclass
class Results:
    """Everything one run measured, and the commands it ran."""

    config: Config
    throughput: list[Throughput] = field(default_factory=list)
    ingest: list[IngestTiming] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


REVALIDATE_LABEL = "/api/history 304 (If-None-Match)"

ENDPOINTS = (
    ("baseline /health", "/health"),
    ("/api/stats", f"/api/stats?coin={PROBE_COIN}"),
    ("/api/deviation", f"/api/deviation?coin={PROBE_COIN}"),
    *(
        (f"/api/history days={days}", f"/api/history?coin={PROBE_COIN}&days={days}")
        for days in (1, 7, 30, 365)
    ),
    (REVALIDATE_LABEL, f"/api/history?coin={PROBE_COIN}&days=30#304"),
)
"""(label, path) of each throughput row; a path ending in #304 is sent with its own ETag."""

HISTORY_TARGET = 0.5
"""Least req/s of a /api/history row, as a share of the /health baseline (issue 11)."""
