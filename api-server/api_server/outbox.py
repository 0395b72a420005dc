"""The durable webhook outbox: one document per fired event that has a webhook.

A delivery is `pending` until an attempt is answered 2xx (`delivered`) or GIVE_UP_SECONDS have
passed since the event (`failed`). A process claims a due delivery with one atomic
find_one_and_update that sets its lease, so two processes never send it at the same time; a
process that dies mid-attempt loses only its lease, and the delivery is due again when it
expires. Each attempt (time, status or error, milliseconds) is pushed onto the document and shown
on GET /api/alerts/{id}. Times are stored as Unix seconds so queries compare numbers only.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError

from api_server.alerts import AlertEvent
from api_server.store import store_errors

DELIVERIES = "alert_deliveries"

BACKOFF_BASE_SECONDS = 5.0
"""Wait before the second attempt; doubled for each further one."""

BACKOFF_CAP_SECONDS = 600.0
"""Longest wait between two attempts."""

GIVE_UP_SECONDS = 3600.0
"""How long after the event delivery keeps being retried."""

LEASE_SECONDS = 30.0
"""How long a claimed delivery is reserved for its process (more than one attempt's timeout)."""

ATTEMPTS_SHOWN = 20
"""Most recent attempts kept per delivery."""


def backoff_seconds(attempts: int, rand: Callable[[], float] = random.random) -> float:
    """Return the wait after `attempts` failed attempts: exponential, capped, with jitter."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery: what to send, where, and how many attempts it has had."""

    id: str
    alert_id: str
    url: str
    secret: str
    body: bytes
    created_at: float
    attempts: int


class Outbox:
    """Pending, delivered and failed webhook deliveries."""

    def __init__(self, database: Any) -> None:
        self.collection = database[DELIVERIES]

    def ensure_indexes(self) -> None:
        """Create the due index and the per-alert index (idempotent)."""
        with store_errors():
            self.collection.create_index([("state", 1), ("nextAttemptAt", 1)], name="due")
            self.collection.create_index([("alertId", 1), ("createdAt", -1)], name="alertId")

    def enqueue(self, events: list[AlertEvent], now: float) -> int:
        """Add a pending delivery for every event with a webhook; return how many were added."""
        added = 0
        for event in events:
            if not event.webhook or not event.secret:
                continue
            doc = {
                "_id": event.id,
                "alertId": event.alert_id,
                "url": event.webhook,
                "secret": event.secret,
                "body": json.dumps(event.to_dict(), separators=(",", ":")),
                "state": "pending",
                "attempts": [],
                "attemptCount": 0,
                "createdAt": now,
                "nextAttemptAt": now,
                "leaseUntil": 0.0,
            }
            try:
                with store_errors():
                    self.collection.insert_one(doc)
                added += 1
            except DuplicateKeyError:  # enqueued by a double evaluation already
                pass
        return added

    def claim(self, now: float) -> Delivery | None:
        """Reserve the most overdue pending delivery for this process, or return None."""
        with store_errors():
            doc = self.collection.find_one_and_update(
                {"state": "pending", "nextAttemptAt": {"$lte": now}, "leaseUntil": {"$lte": now}},
                {"$set": {"leaseUntil": now + LEASE_SECONDS}},
                sort=[("nextAttemptAt", 1)],
            )
        if doc is None:
            return None
        return Delivery(
            id=doc["_id"],
            alert_id=doc["alertId"],
            url=doc["url"],
            secret=doc["secret"],
            body=doc["body"].encode("utf-8"),
            created_at=float(doc["createdAt"]),
            attempts=int(doc["attemptCount"]),
        )

    def record(
        self,
        delivery: Delivery,
        *,
        now: float,
        status: int | None,
        error: str,
        millis: float,
        delivered: bool,
        rand: Callable[[], float] = random.random,
    ) -> str:
        """Record one attempt and what comes next; return the new state."""
        attempts = delivery.attempts + 1
        if delivered:
            state, next_at = "delivered", now
        elif now - delivery.created_at >= GIVE_UP_SECONDS:
            state, next_at = "failed", now
        else:
            state, next_at = "pending", now + backoff_seconds(attempts, rand)
        attempt = {"at": now, "status": status, "error": error, "ms": round(millis, 1)}
        with store_errors():
            self.collection.update_one(
                {"_id": delivery.id},
                {
                    "$push": {"attempts": {"$each": [attempt], "$slice": -ATTEMPTS_SHOWN}},
                    "$set": {
                        "state": state,
                        "attemptCount": attempts,
                        "nextAttemptAt": next_at,
                        "leaseUntil": 0.0,
                    },
                },
            )
        return state

    def of_alert(self, alert_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """Return an alert's newest deliveries with their attempts."""
        with store_errors():
            return list(
                self.collection.find({"alertId": alert_id}, {"secret": 0, "body": 0})
                .sort("createdAt", -1)
                .limit(limit)
            )

    def cancel(self, alert_id: str) -> None:
        """Drop an alert's pending deliveries (the alert was deleted)."""
        with store_errors():
            self.collection.delete_many({"alertId": alert_id, "state": "pending"})

    def count_pending(self) -> int:
        """Return how many deliveries are still pending."""
        with store_errors():
            return int(self.collection.count_documents({"state": "pending"}))
