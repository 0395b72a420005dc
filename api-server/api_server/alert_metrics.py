"""Alert metrics: alerts by state (counted when scraped), events fired, deliveries, latency."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api_server.alerts import AlertStore
from api_server.errors import StoreUnavailable

log = logging.getLogger(__name__)

DELIVERY_OUTCOMES = ("delivered", "retry", "failed")
"""How a webhook attempt ends: accepted, to be retried, or given up."""

DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
"""Seconds from an event firing to its webhook accepting it."""


class AlertStateCollector(Collector):
    """Reports, at scrape time, how many alerts are armed and fired."""

    def __init__(self, alerts: AlertStore) -> None:
        self.alerts = alerts

    def collect(self) -> Iterator[Metric]:
        """Yield the alerts-by-state gauge (nothing when the store is unreachable)."""
        gauge = GaugeMetricFamily(
            "cryptostats_alerts", "Alerts in the store, by state (armed, fired)", labels=["state"]
        )
        try:
            counts = self.alerts.count_by_state()
        except StoreUnavailable as exc:
            log.warning("alerts by state not counted: %s", exc.message)
            return
        for state, count in counts.items():
            gauge.add_metric([state], count)
        yield gauge


class AlertMetrics:
    """The counters the evaluator and the webhook dispatcher update."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fired = Counter(
            "cryptostats_alert_events", "Alert events fired, by type", ["type"], registry=registry
        )
        self.deliveries = Counter(
            "cryptostats_webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "cryptostats_webhook_delivery_latency_seconds",
            "Seconds from an event firing to its webhook accepting it",
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
