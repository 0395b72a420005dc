"""The per-app collaborators, kept on the app (never in module globals)."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from api_server.ingest import Ingestor
from api_server.latest import LatestView
from api_server.store import Store
from api_server.subscriber import Subscriber

EXTENSION = "cryptostats"


@dataclass
class Services:
    """Everything a request or the background thread needs, built once per process."""

    store: Store
    redis: redis.Redis
    view: LatestView
    ingestor: Ingestor
    subscriber: Subscriber

    def start(self) -> None:
        """Start the background subscriber (call after fork)."""
        self.subscriber.start()

    def stop(self) -> None:
        """Stop the background subscriber."""
        self.subscriber.stop()


def services() -> Services:
    """Return the current app's services."""
    found: Services = current_app.extensions[EXTENSION]
    return found
