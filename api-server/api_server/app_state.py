"""The one per-app state object, kept on the app (never in module globals), and its accessor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from flask import Flask, current_app

from api_server.backfill_job import BackfillJob
from api_server.history import History
from api_server.ingest import Ingestor
from api_server.read_model import ReadModel, ReadModelListener
from api_server.store import Store
from api_server.subscriber import Subscriber
from cryptostats.config import Settings

if TYPE_CHECKING:
    from api_server.access import Access
    from api_server.alert_wiring import Alerts

_EXTENSION = "cryptostats"


@dataclass
class AppState:
    """Everything a request or a background thread needs, built once per process."""

    settings: Settings
    store: Store
    redis: redis.Redis
    read_model: ReadModel
    history: History
    ingestor: Ingestor
    backfill: BackfillJob
    subscriber: Subscriber
    read_model_listener: ReadModelListener
    access: Access | None = None
    """Keys, watchlists and the write policy (set by `actions.install_actions`)."""
    alerts: Alerts | None = None
    """Alerts, their outbox and webhook dispatcher (set by `alert_wiring.install_alerts`)."""

    def start(self) -> None:
        """Start the background threads: read model listener, subscriber, backfill, webhooks."""
        self.read_model_listener.start()
        self.subscriber.start()
        self.backfill.start()
        if self.alerts is not None:
            self.alerts.dispatcher.start()

    def stop(self) -> None:
        """Stop the background threads."""
        if self.alerts is not None:
            self.alerts.dispatcher.stop()
        self.backfill.stop()
        self.subscriber.stop()
        self.read_model_listener.stop()


def attach(app: Flask, state: AppState) -> None:
    """Keep the state on the app."""
    app.extensions[_EXTENSION] = state


def state_of(app: Flask) -> AppState:
    """Return an app's state (outside a request: gunicorn hooks, tests)."""
    state: AppState = app.extensions[_EXTENSION]
    return state


def app_state() -> AppState:
    """Return the current app's state (inside a request)."""
    return state_of(current_app)  # type: ignore[arg-type]
