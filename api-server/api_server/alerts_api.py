"""The alert endpoints: /api/alerts (per key) and the seed client's /set-alert and /check-alerts.

Who may use them follows the write policy (auth.require_writer): a key owns its alerts; an
anonymous caller, where anonymous writes are allowed (from the local machine by default), uses
the one shared anonymous owner. Another owner's alert is a 404, never the alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, json
from flask.blueprints import BlueprintSetupState
from flask_smorest import Blueprint
from werkzeug.routing import BaseConverter

from api_server.action_docs import KEY_OR_LOCAL, operation
from api_server.alert_docs import (
    ALERT_ID_PARAM,
    ALERT_WRITE_ERRORS,
    OWNER_ERRORS,
    SINCE_PARAM,
    AlertCreateSchema,
    AlertDetailSchema,
    AlertListSchema,
    EventListSchema,
    NewAlertSchema,
    SeedAlertSchema,
    SeedEventSchema,
    SeedSetSchema,
)
from api_server.alert_input import (
    alert_owner,
    coin_of,
    create_alert_for,
    json_body,
    private_json,
    since_of,
    threshold_of,
    webhook_of,
)
from api_server.alert_wiring import alerts
from api_server.alerts import ALERT_ID_PATTERN, TYPES, alert_body
from api_server.errors import InvalidRequest, NoData
from api_server.watchlist import make_private

bp = Blueprint("alerts", __name__, description="Price alerts and their webhooks")


class AlertIdConverter(BaseConverter):
    """An alert id in a path (so /api/alerts/events is never taken for one)."""

    regex = ALERT_ID_PATTERN


@bp.record_once
def _register_converter(setup: BlueprintSetupState) -> None:  # runs before the routes are added
    setup.app.url_map.converters["alert_id"] = AlertIdConverter


SEED_WINDOW = timedelta(hours=24)
"""How far back /check-alerts looks."""


class AlertNotFound(NoData):
    """No alert with this id belongs to the caller (404)."""


@bp.route("/api/alerts", methods=["POST"])
@operation(
    bp,
    limited=True,
    security=KEY_OR_LOCAL,
    body=AlertCreateSchema,
    success=(201, NewAlertSchema, "The alert, armed (a webhook alert's `secret` is shown once)"),
    errors=ALERT_WRITE_ERRORS,
)
def create_alert() -> Response:
    """Create a price alert: `above` or `below` a threshold, with an optional webhook."""
    who = alert_owner()
    payload = json_body()
    coin = coin_of(payload)
    kinds = [kind for kind, field in TYPES.items() if field in payload]
    if len(kinds) != 1:
        raise InvalidRequest('give exactly one of "above" or "below"', field="above")
    kind = kinds[0]
    threshold = threshold_of(payload[TYPES[kind]], TYPES[kind])
    webhook = webhook_of(payload.get("webhook"))
    doc = create_alert_for(who, coin, kind, threshold, webhook=webhook)
    body = alert_body(doc)
    if doc.get("secret"):
        body["secret"] = doc["secret"]
    return private_json(body, status=201)


@bp.route("/api/alerts", methods=["GET"])
@operation(
    bp,
    security=KEY_OR_LOCAL,
    success=(200, AlertListSchema, "The caller's alerts"),
    errors=OWNER_ERRORS,
)
def list_alerts() -> Response:
    """List the caller's alerts, oldest first."""
    docs = alerts().store.of_owner(alert_owner())
    return private_json({"alerts": [alert_body(doc) for doc in docs]})


@bp.route("/api/alerts/events", methods=["GET"])
@operation(
    bp,
    security=KEY_OR_LOCAL,
    parameters=[SINCE_PARAM],
    success=(200, EventListSchema, "The caller's fired events, newest first (at most 100)"),
    errors={**OWNER_ERRORS, 400: "`since` is not an ISO 8601 time"},
)
def list_events() -> Response:
    """List the caller's fired events, newest first, optionally since a time."""
    who = alert_owner()
    since = since_of()
    events = alerts().store.events_of(who, since)
    return private_json({"events": [event.to_dict() for event in events]})


@bp.route("/api/alerts/<alert_id:alert_id>", methods=["GET"])
@operation(
    bp,
    security=KEY_OR_LOCAL,
    parameters=[ALERT_ID_PARAM],
    success=(200, AlertDetailSchema, "The alert and its webhook deliveries, newest first"),
    errors={**OWNER_ERRORS, 404: "no such alert for this caller"},
)
def get_alert(alert_id: str) -> Response:
    """Show one of the caller's alerts with each webhook delivery and its attempts."""
    found = alerts()
    doc = found.store.find(alert_owner(), alert_id)
    if doc is None:
        raise AlertNotFound("no such alert")
    body = alert_body(doc)
    body["deliveries"] = [_delivery(d) for d in found.outbox.of_alert(alert_id)]
    return private_json(body)


@bp.route("/api/alerts/<alert_id:alert_id>", methods=["DELETE"])
@operation(
    bp,
    limited=True,
    security=KEY_OR_LOCAL,
    parameters=[ALERT_ID_PARAM],
    success=(204, None, "The alert is deleted (its pending webhooks too)"),
    errors={**OWNER_ERRORS, 404: "no such alert for this caller"},
)
def delete_alert(alert_id: str) -> Response:
    """Delete one of the caller's alerts and its pending deliveries."""
    found = alerts()
    if not found.store.delete(alert_owner(), alert_id):
        raise AlertNotFound("no such alert")
    found.outbox.cancel(alert_id)
    return Response(status=204)


@bp.route("/set-alert", methods=["POST"])
@operation(
    bp,
    limited=True,
    security=KEY_OR_LOCAL,
    body=SeedAlertSchema,
    success=(200, SeedSetSchema, "The coin's upper and lower alerts as now set"),
    errors=ALERT_WRITE_ERRORS,
)
def set_alert() -> Response:
    """Set (or replace) the caller's upper and lower alert for a coin (the seed dashboard).

    A `null` threshold removes that side; both `null` remove both.
    """
    who = alert_owner()
    payload = json_body()
    coin = coin_of(payload)
    wanted: dict[str, float | None] = {}
    for kind, field in (("upper", "upperThreshold"), ("lower", "lowerThreshold")):
        raw = payload.get(field)
        wanted[kind] = None if raw is None else threshold_of(raw, field)
    store = alerts().store
    current = {doc["type"]: doc for doc in store.seed_alerts(who, coin)}
    for kind, threshold in wanted.items():
        old = current.get(kind)
        if old is not None and old["threshold"] == threshold:
            continue  # unchanged: keep its state, so it does not fire again
        if old is not None:
            store.delete(who, old["_id"])
        if threshold is not None:
            create_alert_for(who, coin, kind, threshold, seed=True)
    return private_json(
        {"coin": coin, "upperThreshold": wanted["upper"], "lowerThreshold": wanted["lower"]}
    )


@bp.route("/check-alerts", methods=["GET"])
@operation(
    bp,
    security=KEY_OR_LOCAL,
    success=(200, SeedEventSchema(many=True), "Events of the last 24 hours, newest first"),
    errors=OWNER_ERRORS,
)
def check_alerts() -> Response:
    """List the caller's alert events of the last 24 hours (the seed dashboard polls it)."""
    since = datetime.now(UTC) - SEED_WINDOW
    events = alerts().store.events_of(alert_owner(), since)
    items = [
        {
            "coin": e.coin,
            "price": e.price,
            "threshold": e.threshold,
            "type": e.type,
            "firedAt": e.to_dict()["firedAt"],
        }
        for e in events
    ]
    return make_private(Response(json.dumps(items), mimetype="application/json"))


def _delivery(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": doc["_id"],
        "state": doc["state"],
        "attempts": [
            {
                "at": _iso(a["at"]),
                "status": a.get("status"),
                "error": a.get("error") or None,
                "ms": a.get("ms"),
            }
            for a in doc.get("attempts", [])
        ],
        "nextAttemptAt": _iso(doc["nextAttemptAt"]) if doc["state"] == "pending" else None,
    }


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
