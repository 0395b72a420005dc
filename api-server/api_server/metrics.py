"""Prometheus metrics: requests, latency, ingests, upstream calls, and the age of the data.

Under gunicorn every worker process writes its counters to files in PROMETHEUS_MULTIPROC_DIR
(set by gunicorn_conf before prometheus_client is first imported) and a scrape of any worker
adds them all up. Without that variable (tests, a single process) the app's own registry is used.
The age of the newest data per coin is computed when scraped, from the scraping process's view.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api_server.read_model import ReadModel
from api_server.report import IngestReport

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The variable that switches prometheus_client to one file per process."""

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds; reads from memory answer in well under a millisecond."""

UNMATCHED = "unmatched"
"""The endpoint label of requests that matched no route (keeps label values bounded)."""


class DataAgeCollector(Collector):
    """Reports, at scrape time, how old each tracked coin's newest observation is."""

    def __init__(self, view: ReadModel, coins: Sequence[str]) -> None:
        self.view = view
        self.coins = list(coins)

    def collect(self) -> Iterator[Metric]:
        """Yield the age gauge for every tracked coin that has data."""
        gauge = GaugeMetricFamily(
            "cryptostats_data_age_seconds",
            "Seconds since the newest stored observation of the coin (upstream time)",
            labels=["coin"],
        )
        views = self.view.current()
        now = time.time()
        for coin in self.coins:
            if coin in views:
                observed = views[coin].snapshot.observed_at.timestamp()
                gauge.add_metric([coin], max(0.0, now - observed))
        yield gauge


class Metrics:
    """The app's metrics and how to render them."""

    def __init__(self, view: ReadModel, coins: Sequence[str]) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.age = DataAgeCollector(view, coins)
        self.requests = Counter(
            "cryptostats_http_requests",
            "HTTP requests answered, by endpoint (route), method (a routed one, else other) "
            "and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cryptostats_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint (route) and status",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingests = Counter(
            "cryptostats_ingests",
            "Ingests run by this service, by outcome (ok, partial, upstream_error, store_error)",
            ["outcome"],
            registry=self.registry,
        )
        self.upstream_calls = Counter(
            "cryptostats_upstream_calls",
            "Calls to CoinGecko /coins/markets (retries inside one call not counted)",
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "cryptostats_upstream_errors",
            "Failed upstream fetches by kind (timeout, connection, rate_limited, server_error, "
            "http_error, not_json, error_body, retries_exhausted) and rejected coins "
            "(invalid_coin)",
            ["kind"],
            registry=self.registry,
        )
        self.backfills = Counter(
            "cryptostats_backfills",
            "Backfills (reason backfill) run by this service, by outcome (as ingests)",
            ["outcome"],
            registry=self.registry,
        )
        self.backfill_points = Counter(
            "cryptostats_backfill_points",
            "Market chart points stored by backfills",
            registry=self.registry,
        )
        self.scrape_collectors: list[Collector] = [self.age]
        """Collectors computed when scraped, from this process's view (not per-process files)."""
        if self.multiprocess_dir is None:
            self.registry.register(self.age)

    def add_scrape_collector(self, collector: Collector) -> None:
        """Register a collector computed at scrape time (alerts by state)."""
        self.scrape_collectors.append(collector)
        if self.multiprocess_dir is None:
            self.registry.register(collector)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        code = str(status)
        self.requests.labels(endpoint, method, code).inc()
        self.latency.labels(endpoint, code).observe(seconds)

    def observe_ingest(self, report: IngestReport) -> None:
        """Count one finished ingest, its upstream calls and errors."""
        self.ingests.labels(report.outcome).inc()
        if report.upstream_calls:
            self.upstream_calls.inc(report.upstream_calls)
        if report.error_kind:
            self.upstream_errors.labels(report.error_kind).inc()
        if report.skipped:
            self.upstream_errors.labels("invalid_coin").inc(len(report.skipped))

    def observe_backfill(self, outcome: str, points: int) -> None:
        """Count one finished backfill and the points it stored."""
        self.backfills.labels(outcome).inc()
        self.backfill_points.inc(points)

    def render(self) -> tuple[bytes, str]:
        """Return the exposition text of every process's metrics and its content type."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)
        for collector in self.scrape_collectors:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
