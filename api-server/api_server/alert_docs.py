"""OpenAPI pieces of the alert endpoints: bodies, answers, parameters and errors."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from api_server.action_docs import STANDARD_ERRORS
from api_server.alerts import MAX_ALERTS_PER_OWNER

OWNER_ERRORS = {
    401: STANDARD_ERRORS[401] + "; anonymous from a non-local address (ANONYMOUS_WRITES)",
    503: "data store unavailable",
}

ALERT_WRITE_ERRORS = {
    400: "a field is missing or bad (the body names it in `field`), an untracked coin (the body "
    f"lists the tracked coins), a refused webhook URL, or {MAX_ALERTS_PER_OWNER} alerts already",
    **OWNER_ERRORS,
    413: "body over 4 KiB",
    429: STANDARD_ERRORS[429],
}

ALERT_ID_PARAM = {
    "in": "path",
    "name": "alert_id",
    "required": True,
    "schema": {"type": "string"},
    "description": "An alert's id (from POST /api/alerts)",
}

SINCE_PARAM = {
    "in": "query",
    "name": "since",
    "required": False,
    "schema": {"type": "string", "format": "date-time"},
    "description": "Only events fired at or after this ISO 8601 time",
}


class AlertCreateSchema(ma.Schema):
    """A new alert: a coin and one of `above` / `below`, optionally a webhook."""

    class Meta:
        unknown = ma.EXCLUDE

    coin = fields.String(required=True, metadata={"example": "bitcoin"})
    above = fields.Float(metadata={"description": "Fire when the price goes above (positive)"})
    below = fields.Float(metadata={"description": "Fire when the price goes below (positive)"})
    webhook = fields.String(
        allow_none=True,
        metadata={"description": "http(s) URL to POST each event to (public addresses only)"},
    )


class AlertSchema(ma.Schema):
    """An alert as listed (never its secret)."""

    id = fields.String(required=True)
    coin = fields.String(required=True)
    above = fields.Float()
    below = fields.Float()
    webhook = fields.String(required=True, allow_none=True)
    createdAt = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "`armed` or `fired`"})
    lastFiredAt = fields.String(required=True, allow_none=True)


class NewAlertSchema(AlertSchema):
    """A created alert; a webhook alert carries its signing secret, shown once."""

    secret = fields.String(metadata={"description": "HMAC-SHA256 key of the webhook signature"})


class AttemptSchema(ma.Schema):
    """One webhook attempt."""

    at = fields.String(required=True)
    status = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    ms = fields.Float(required=True)


class DeliverySchema(ma.Schema):
    """One event's webhook delivery: pending, delivered or failed, with its attempts."""

    eventId = fields.String(required=True)
    state = fields.String(required=True)
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    nextAttemptAt = fields.String(required=True, allow_none=True)


class AlertDetailSchema(AlertSchema):
    """An alert with its newest webhook deliveries."""

    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


class AlertListSchema(ma.Schema):
    """The caller's alerts."""

    alerts = fields.List(fields.Nested(AlertSchema), required=True)


class EventSchema(ma.Schema):
    """One fired event (also the body POSTed to a webhook)."""

    id = fields.String(required=True)
    alertId = fields.String(required=True)
    coin = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "`upper` or `lower`"})
    threshold = fields.Float(required=True)
    price = fields.Float(required=True)
    observedAt = fields.String(required=True)
    firedAt = fields.String(required=True)


class EventListSchema(ma.Schema):
    """The caller's events, newest first."""

    events = fields.List(fields.Nested(EventSchema), required=True)


class SeedAlertSchema(ma.Schema):
    """The seed dashboard's alert: a coin and its upper and lower thresholds (null: none)."""

    class Meta:
        unknown = ma.EXCLUDE

    coin = fields.String(required=True, metadata={"example": "bitcoin"})
    upperThreshold = fields.Float(allow_none=True)
    lowerThreshold = fields.Float(allow_none=True)


class SeedSetSchema(SeedAlertSchema):
    """The coin's thresholds as now set."""


class SeedEventSchema(ma.Schema):
    """One event as the seed dashboard reads it."""

    coin = fields.String(required=True)
    price = fields.Float(required=True)
    threshold = fields.Float(required=True)
    type = fields.String(required=True)
    firedAt = fields.String(required=True)
