"""Price alerts and their fired events, in one MongoDB database (real or embedded).

An alert is `upper` (fires when a stored price is above its threshold) or `lower` (below).
It is `armed` until it fires, then `fired` until a later price is back on the other side.
The firing queries go through the index (coin, state, type, threshold): an ingest touches only
the alerts of the coins it stored that change state, never every alert. An event's `_id` is
the alert id and the observation time, so evaluating one observation twice (two processes, a
retry) cannot store two events. Every query here runs the same on MongoDB and mongomock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo.errors import BulkWriteError, DuplicateKeyError

from api_server.domain import Observation
from api_server.store import store_errors
from api_server.times import iso_time

ALERTS = "alerts"
EVENTS = "alert_events"

MAX_ALERTS_PER_OWNER = 100
"""Most alerts one key (or the shared anonymous owner) may hold."""

ANONYMOUS_OWNER = "anonymous"
"""The one owner every anonymous caller shares (where anonymous writes are allowed)."""

TYPES = {"upper": "above", "lower": "below"}
"""Alert type -> the field that names its threshold in the API."""

ALERT_ID_PATTERN = r"al_[0-9a-f]{16}"
"""What an alert id looks like ("al_" and 16 hex digits)."""

MAX_EVENTS_LISTED = 100
"""Most events one GET answers with."""


class TooManyAlerts(Exception):
    """The owner already holds MAX_ALERTS_PER_OWNER alerts."""


@dataclass(frozen=True)
class AlertEvent:
    """One firing of an alert, by one stored observation."""

    id: str
    alert_id: str
    owner: str
    coin: str
    type: str
    threshold: float
    price: float
    observed_at: datetime
    fired_at: datetime
    webhook: str | None = None
    secret: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the API and webhooks show it."""
        return {
            "id": self.id,
            "alertId": self.alert_id,
            "coin": self.coin,
            "type": self.type,
            "threshold": self.threshold,
            "price": self.price,
            "observedAt": iso_time(self.observed_at),
            "firedAt": iso_time(self.fired_at),
        }


def event_id(alert_id: str, observed_at: datetime) -> str:
    """Return the deterministic id of an alert's event for one observation."""
    return f"{alert_id}-{int(observed_at.timestamp() * 1000)}"


def is_beyond(kind: str, threshold: float, price: float) -> bool:
    """Whether a price is beyond an alert's threshold (strictly above/below)."""
    return price > threshold if kind == "upper" else price < threshold


def aware(moment: datetime) -> datetime:
    """Return a datetime read back from the store as aware UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class AlertStore:
    """Alerts (per owner) and their events."""

    def __init__(self, database: Any) -> None:
        self.alerts = database[ALERTS]
        self.events = database[EVENTS]

    def ensure_indexes(self) -> None:
        """Create the firing index and the owners' indexes (idempotent)."""
        with store_errors():
            self.alerts.create_index(
                [("coin", 1), ("state", 1), ("type", 1), ("threshold", 1)], name="firing"
            )
            self.alerts.create_index([("owner", 1), ("createdAt", 1)], name="owner")
            self.events.create_index(
                [("owner", 1), ("firedAt", pymongo.DESCENDING)], name="owner_firedAt"
            )
            self.events.create_index([("alertId", 1)], name="alertId")

    def create(
        self,
        owner: str,
        coin: str,
        kind: str,
        threshold: float,
        *,
        webhook: str | None = None,
        seed: bool = False,
        now: datetime,
    ) -> dict[str, Any]:
        """Store a new armed alert and return its document (with the secret of a webhook)."""
        if self.count(owner) >= MAX_ALERTS_PER_OWNER:
            raise TooManyAlerts(f"at most {MAX_ALERTS_PER_OWNER} alerts per key; delete one first")
        doc = {
            "_id": "al_" + secrets.token_hex(8),
            "owner": owner,
            "coin": coin,
            "type": kind,
            "threshold": threshold,
            "webhook": webhook,
            "secret": "whsec_" + secrets.token_urlsafe(32) if webhook else None,
            "state": "armed",
            "seed": seed,
            "createdAt": now,
            "lastFiredAt": None,
        }
        with store_errors():
            self.alerts.insert_one(doc)
        return doc

    def count(self, owner: str) -> int:
        """Return how many alerts an owner holds."""
        with store_errors():
            return int(self.alerts.count_documents({"owner": owner}))

    def of_owner(self, owner: str) -> list[dict[str, Any]]:
        """Return an owner's alerts, oldest first."""
        with store_errors():
            return list(self.alerts.find({"owner": owner}).sort("createdAt", 1))

    def find(self, owner: str, alert_id: str) -> dict[str, Any] | None:
        """Return one of an owner's alerts, or None (another owner's is None too)."""
        with store_errors():
            found: dict[str, Any] | None = self.alerts.find_one({"_id": alert_id, "owner": owner})
        return found

    def delete(self, owner: str, alert_id: str) -> bool:
        """Delete one of an owner's alerts; return whether it existed."""
        with store_errors():
            return bool(self.alerts.delete_one({"_id": alert_id, "owner": owner}).deleted_count)

    def delete_owner(self, owner: str) -> list[str]:
        """Delete every alert of an owner; return their ids."""
        with store_errors():
            ids = [doc["_id"] for doc in self.alerts.find({"owner": owner}, {"_id": 1})]
            self.alerts.delete_many({"owner": owner})
        return ids

    def seed_alerts(self, owner: str, coin: str) -> list[dict[str, Any]]:
        """Return the alerts the seed client set for a coin (at most one per type)."""
        with store_errors():
            return list(self.alerts.find({"owner": owner, "coin": coin, "seed": True}))

    def count_by_state(self) -> dict[str, int]:
        """Return how many alerts are in each state (metrics)."""
        counts = {"armed": 0, "fired": 0}
        with store_errors():
            for state in counts:
                counts[state] = int(self.alerts.count_documents({"state": state}))
        return counts

    def rearm(self, coin: str, price: float) -> int:
        """Re-arm the fired alerts of a coin whose threshold the price is back behind."""
        with store_errors():
            upper = self.alerts.update_many(
                {"coin": coin, "state": "fired", "type": "upper", "threshold": {"$gte": price}},
                {"$set": {"state": "armed"}},
            )
            lower = self.alerts.update_many(
                {"coin": coin, "state": "fired", "type": "lower", "threshold": {"$lte": price}},
                {"$set": {"state": "armed"}},
            )
        return int(upper.modified_count + lower.modified_count)

    def crossed(self, coin: str, price: float) -> list[dict[str, Any]]:
        """Return the armed alerts of a coin that this price is beyond."""
        with store_errors():
            upper = self.alerts.find(
                {"coin": coin, "state": "armed", "type": "upper", "threshold": {"$lt": price}}
            )
            lower = self.alerts.find(
                {"coin": coin, "state": "armed", "type": "lower", "threshold": {"$gt": price}}
            )
            return [*upper, *lower]

    def fire(
        self, obs: Observation, alerts: list[dict[str, Any]], now: datetime
    ) -> list[AlertEvent]:
        """Store one event per alert for this observation; return the events new to the store."""
        events = [
            AlertEvent(
                id=event_id(alert["_id"], obs.observed_at),
                alert_id=alert["_id"],
                owner=alert["owner"],
                coin=obs.coin,
                type=alert["type"],
                threshold=alert["threshold"],
                price=obs.price,
                observed_at=obs.observed_at,
                fired_at=now,
                webhook=alert.get("webhook"),
                secret=alert.get("secret"),
            )
            for alert in alerts
        ]
        if not events:
            return []
        fresh = self._insert_events(events)
        with store_errors():
            self.alerts.update_many(
                {"_id": {"$in": [alert["_id"] for alert in alerts]}},
                {"$set": {"state": "fired", "lastFiredAt": now}},
            )
        return fresh

    def _insert_events(self, events: list[AlertEvent]) -> list[AlertEvent]:
        docs = [_event_doc(event) for event in events]
        with store_errors():
            try:
                self.events.insert_many(docs, ordered=False)
                return events
            except BulkWriteError as exc:  # some were stored already (a double evaluation)
                duplicates = {docs[e["index"]]["_id"] for e in exc.details["writeErrors"]}
                return [event for event in events if event.id not in duplicates]
            except DuplicateKeyError:  # mongomock reports a lone duplicate this way
                return [event for event in events if self._insert_one(_event_doc(event))]

    def _insert_one(self, doc: dict[str, Any]) -> bool:
        try:
            self.events.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    def events_of(self, owner: str, since: datetime | None = None) -> list[AlertEvent]:
        """Return an owner's events, newest first (at most MAX_EVENTS_LISTED)."""
        query: dict[str, Any] = {"owner": owner}
        if since is not None:
            query["firedAt"] = {"$gte": since}
        with store_errors():
            newest = [("firedAt", pymongo.DESCENDING), ("observedAt", pymongo.DESCENDING)]
            docs = self.events.find(query).sort(newest).limit(MAX_EVENTS_LISTED)
            return [_event(doc) for doc in docs]


def _event_doc(event: AlertEvent) -> dict[str, Any]:
    return {
        "_id": event.id,
        "alertId": event.alert_id,
        "owner": event.owner,
        "coin": event.coin,
        "type": event.type,
        "threshold": event.threshold,
        "price": event.price,
        "observedAt": event.observed_at,
        "firedAt": event.fired_at,
    }


def _event(doc: dict[str, Any]) -> AlertEvent:
    return AlertEvent(
        id=doc["_id"],
        alert_id=doc["alertId"],
        owner=doc["owner"],
        coin=doc["coin"],
        type=doc["type"],
        threshold=doc["threshold"],
        price=doc["price"],
        observed_at=aware(doc["observedAt"]),
        fired_at=aware(doc["firedAt"]),
    )


def alert_body(doc: dict[str, Any]) -> dict[str, Any]:
    """Return an alert as the API shows it (never its secret)."""
    return {
        "id": doc["_id"],
        "coin": doc["coin"],
        TYPES[doc["type"]]: doc["threshold"],
        "webhook": doc.get("webhook"),
        "createdAt": iso_time(aware(doc["createdAt"])),
        "state": doc["state"],
        "lastFiredAt": iso_time(aware(doc["lastFiredAt"])) if doc.get("lastFiredAt") else None,
    }
