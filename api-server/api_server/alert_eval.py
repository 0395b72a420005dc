"""Alert evaluation: what an ingest stored, checked against the alerts of those coins only.

The Ingestor calls `AlertEvaluator.on_stored` with the observations it stored, after it has
announced them (so the read models are already reloading): only in the process that won the
ingest claim, or, with the embedded store whose alerts live in one process each, in the process
that applied a replicated batch. Backfill and CSV imports never call it, so they never fire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from api_server.alert_metrics import AlertMetrics
from api_server.alerts import AlertEvent, AlertStore
from api_server.domain import Observation
from api_server.errors import StoreUnavailable
from api_server.outbox import Outbox

log = logging.getLogger(__name__)


class AlertEvaluator:
    """Fires and re-arms alerts for stored observations, and queues their webhooks."""

    def __init__(
        self,
        alerts: AlertStore,
        outbox: Outbox,
        *,
        metrics: AlertMetrics | None = None,
        wake: threading.Event | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.alerts = alerts
        self.outbox = outbox
        self.metrics = metrics
        self.wake = wake
        """Set when deliveries were queued (the dispatcher waits on it)."""
        self.now = now
        self.clock = clock

    def on_stored(self, observations: list[Observation]) -> None:
        """Evaluate every stored observation; log, never raise (the ingest called it)."""
        try:
            fired = [event for obs in observations for event in self.evaluate(obs)]
        except StoreUnavailable as exc:
            log.error("alerts not evaluated (%s); the next ingest evaluates again", exc.message)
            return
        except Exception:  # a fault in alerts must never break the ingest that called it
            log.exception("alerts not evaluated")
            return
        if fired:
            log.info(
                "%d alert(s) fired", len(fired), extra={"event": "alerts", "fired": len(fired)}
            )

    def evaluate(self, obs: Observation) -> list[AlertEvent]:
        """Re-arm and fire a coin's alerts for one observation; return the events it stored."""
        self.alerts.rearm(obs.coin, obs.price)
        crossed = self.alerts.crossed(obs.coin, obs.price)
        if not crossed:
            return []
        events = self.alerts.fire(obs, crossed, self.now())
        if self.outbox.enqueue(events, self.clock()) and self.wake is not None:
            self.wake.set()
        if self.metrics is not None:
            for event in events:
                self.metrics.fired.labels(event.type).inc()
        return events
