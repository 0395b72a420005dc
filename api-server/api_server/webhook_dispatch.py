"""The webhook dispatcher: one background thread per API process that drains the outbox.

Started by `start(app)` (after fork), never on a request or an ingest. Each tick claims the due
deliveries one at a time (the claim is atomic in the store, so two processes never send the same
one), POSTs each with a bounded timeout and records the attempt; then it waits POLL_SECONDS, or
less when the evaluator queues something (`wake`). A restart loses nothing: the outbox is in the
store and an unfinished claim expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from api_server.alert_metrics import AlertMetrics
from api_server.errors import StoreUnavailable
from api_server.outbox import Delivery, Outbox
from api_server.webhooks import Attempt, post

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often the dispatcher looks for due deliveries when nothing wakes it."""

MAX_PER_TICK = 100
"""Most deliveries one tick sends before checking the stop flag again."""

Sender = Callable[[Delivery], Attempt]


class WebhookDispatcher:
    """Sends due deliveries from the outbox and records every attempt."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        allow_private: bool,
        metrics: AlertMetrics | None = None,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.allow_private = allow_private
        self.metrics = metrics
        self.sender = sender or self._post
        self.clock = clock
        self.timer = timer
        self.poll_seconds = poll_seconds
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """Send every due delivery (up to MAX_PER_TICK); return how many were attempted."""
        sent = 0
        while sent < MAX_PER_TICK and not self.stopping.is_set():
            try:
                delivery = self.outbox.claim(self.clock())
                if delivery is None:
                    break
                self._attempt(delivery)
            except StoreUnavailable as exc:
                log.warning("webhook outbox unavailable: %s", exc.message)
                break
            sent += 1
        return sent

    def _attempt(self, delivery: Delivery) -> None:
        started = self.timer()
        attempt = self.sender(delivery)
        millis = (self.timer() - started) * 1000
        now = self.clock()
        state = self.outbox.record(
            delivery,
            now=now,
            status=attempt.status,
            error=attempt.error,
            millis=millis,
            delivered=attempt.delivered,
        )
        outcome = {"delivered": "delivered", "failed": "failed"}.get(state, "retry")
        log.info(
            "webhook %s for event %s: %s",
            outcome,
            delivery.id,
            attempt.status if attempt.status is not None else attempt.error,
            extra={"event": "webhook", "outcome": outcome, "status": attempt.status},
        )
        if self.metrics is not None:
            self.metrics.deliveries.labels(outcome).inc()
            if attempt.delivered:
                self.metrics.latency.observe(max(0.0, now - delivery.created_at))

    def _post(self, delivery: Delivery) -> Attempt:
        return post(
            delivery.url,
            delivery.body,
            secret=delivery.secret,
            event_id=delivery.id,
            allow_private=self.allow_private,
        )

    def run(self, *, max_ticks: int | None = None) -> None:
        """Tick until stopped (or `max_ticks`), waiting between ticks unless woken."""
        ticks = 0
        while not self.stopping.is_set() and (max_ticks is None or ticks < max_ticks):
            try:
                self.tick()
            except Exception:
                log.exception("webhook dispatcher tick failed; continuing")
            ticks += 1
            if max_ticks is None or ticks < max_ticks:
                self.wake.wait(self.poll_seconds)
                self.wake.clear()

    def start(self) -> None:
        """Run in a daemon thread."""
        if self._thread is None:
            self.stopping.clear()
            self._thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (an attempt in flight is bounded)."""
        self.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
