"""Alerts wired into an app: the store, the outbox, the evaluator and the webhook dispatcher.

create_app calls `install_alerts` once; `AppState.start` starts the dispatcher's thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api_server.alert_eval import AlertEvaluator
from api_server.alert_metrics import AlertMetrics, AlertStateCollector
from api_server.alerts import AlertStore
from api_server.app_state import app_state, state_of
from api_server.metrics import Metrics
from api_server.outbox import Outbox
from api_server.webhook_dispatch import WebhookDispatcher
from api_server.webhooks import WebhookSettings

log = logging.getLogger(__name__)


@dataclass
class Alerts:
    """Everything alerts need, kept in the app state (`AppState.alerts`)."""

    store: AlertStore
    outbox: Outbox
    evaluator: AlertEvaluator
    dispatcher: WebhookDispatcher
    settings: WebhookSettings

    def drop_owner(self, owner: str) -> None:
        """Delete an owner's alerts and their pending deliveries (its key was revoked)."""
        for alert_id in self.store.delete_owner(owner):
            self.outbox.cancel(alert_id)


def install_alerts(
    app: Any, database: Any, metrics: Metrics, environ: Mapping[str, str] | None = None
) -> Alerts:
    """Build the alert collaborators, hook the evaluator to the ingest, register the metrics."""
    settings = WebhookSettings.from_env(os.environ if environ is None else environ)
    store, outbox = AlertStore(database), Outbox(database)
    try:
        store.ensure_indexes()
        outbox.ensure_indexes()
    except Exception as exc:  # the store may come up later; alert routes answer 503 until then
        log.warning("could not create the alert indexes yet: %s", exc)
    counters = AlertMetrics(metrics.registry)
    metrics.add_scrape_collector(AlertStateCollector(store))
    dispatcher = WebhookDispatcher(outbox, allow_private=settings.allow_private, metrics=counters)
    evaluator = AlertEvaluator(store, outbox, metrics=counters, wake=dispatcher.wake)
    state = state_of(app)
    state.ingestor.stored_listeners.append(evaluator.on_stored)
    state.alerts = Alerts(store, outbox, evaluator, dispatcher, settings)
    if settings.allow_private:
        log.warning("ALERT_WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach private addresses")
    return state.alerts


def alerts() -> Alerts:
    """Return the current app's alert collaborators."""
    found = app_state().alerts
    if found is None:
        raise RuntimeError("install_alerts was not called for this app")
    return found
