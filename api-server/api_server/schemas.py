"""Marshmallow schemas of the HTTP contract, used to generate the OpenAPI document.

The hot read endpoints (/api/stats, /api/deviation) return bodies rendered at ingest time; their
schemas here only document them. The other endpoints build plain dicts of the same shapes.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

SORT_KEYS = ("marketCap", "volume24h", "price", "24hChange", "coin")
"""The keys /api/coins sorts by."""

MAX_HISTORY_DAYS = 365
"""The longest window /api/history serves."""

MAX_HISTORY_POINTS = 1000
"""Most buckets /api/history returns (the interval rule keeps every answer within it)."""

HISTORY_INTERVALS = ("5m", "1h", "1d")
"""Bucket widths /api/history serves, finest first."""

ANSWER_TYPES = ("price", "market_cap", "change_24h", "deviation", "volume", "trend", "help")
"""What the assistant can answer."""


class ErrorSchema(ma.Schema):
    """Every error: {"error": message}, sometimes with more keys (e.g. the tracked coins)."""

    class Meta:
        unknown = ma.INCLUDE

    error = fields.String(required=True, metadata={"description": "What went wrong"})
    coins = fields.List(
        fields.String(),
        metadata={"description": "The tracked coins (when the coin was missing or untracked)"},
    )


class StatsSchema(ma.Schema):
    """The newest stored record of a coin (the original contract: keys never change)."""

    price = fields.Float(required=True, metadata={"description": "Price in USD"})
    marketCap = fields.Float(required=True, metadata={"description": "Market cap in USD"})
    change_24h = fields.Float(
        required=True, data_key="24hChange", metadata={"description": "Price change over 24 h, %"}
    )


class DeviationSchema(ma.Schema):
    """Population standard deviation of the newest 100 prices."""

    deviation = fields.Float(
        required=True,
        metadata={"description": "USD; 2 decimals, or 6 significant digits below 1"},
    )


class HealthSchema(ma.Schema):
    """Liveness."""

    status = fields.String(required=True, metadata={"example": "OK"})


class CoinSchema(ma.Schema):
    """One tracked coin; numbers and times are null until its first data arrives."""

    coin = fields.String(required=True, metadata={"description": "Public id used in queries"})
    symbol = fields.String(required=True, metadata={"description": "Upstream symbol, or ''"})
    name = fields.String(required=True, metadata={"description": "Upstream name, or ''"})
    price = fields.Float(required=True, allow_none=True)
    marketCap = fields.Float(required=True, allow_none=True)
    change_24h = fields.Float(required=True, allow_none=True, data_key="24hChange")
    volume24h = fields.Float(
        required=True, allow_none=True, metadata={"description": "24 h trading volume, USD"}
    )
    deviation = fields.Float(required=True, allow_none=True)
    samples = fields.Integer(
        required=True, metadata={"description": "Prices the deviation covers (0: no data)"}
    )
    observedAt = fields.String(
        required=True, allow_none=True, metadata={"description": "Upstream time, ISO 8601 UTC"}
    )
    updatedAt = fields.String(
        required=True, allow_none=True, metadata={"description": "When it was stored"}
    )
    source = fields.String(required=True, allow_none=True, metadata={"description": "Host"})


class CoinListSchema(ma.Schema):
    """The tracked coins."""

    coins = fields.List(fields.Nested(CoinSchema), required=True)
    count = fields.Integer(required=True)


class HistoryPointSchema(ma.Schema):
    """One bucket of stored records (trigger and backfilled): OHLC, volume and deviation."""

    time = fields.String(required=True, metadata={"description": "Bucket start, ISO 8601 UTC"})
    price = fields.Float(required=True, metadata={"description": "Close: the latest price"})
    marketCap = fields.Float(required=True, metadata={"description": "Of the latest record"})
    open = fields.Float(required=True, metadata={"description": "The earliest price"})
    high = fields.Float(required=True)
    low = fields.Float(required=True)
    volume24h = fields.Float(
        required=True, allow_none=True, metadata={"description": "Of the latest record"}
    )
    deviation = fields.Float(
        required=True,
        allow_none=True,
        metadata={
            "description": "The deviation served after the bucket's last trigger record; null "
            "when the bucket holds only backfilled records"
        },
    )


class HistorySchema(ma.Schema):
    """A coin's buckets over `days`, oldest first."""

    coin = fields.String(required=True)
    days = fields.Integer(required=True)
    interval = fields.String(required=True, validate=validate.OneOf(HISTORY_INTERVALS))
    points = fields.List(fields.Nested(HistoryPointSchema), required=True)


class IngestSchema(ma.Schema):
    """One ingest, as recorded in the ingest log."""

    startedAt = fields.String(required=True, allow_none=True)
    finishedAt = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True)
    outcome = fields.String(
        required=True,
        metadata={"description": "ok, partial, upstream_error, store_error or running"},
    )
    stored = fields.List(fields.String(), required=True, metadata={"description": "Coins stored"})
    skipped = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "Coins skipped, with the reason"},
    )
    duplicates = fields.List(
        fields.String(), required=True, metadata={"description": "Coins whose record was known"}
    )
    upstreamCalls = fields.Integer(required=True)
    errors = fields.List(fields.String(), required=True)
    source = fields.String(required=True)


class CoinAgeSchema(ma.Schema):
    """How old a coin's newest data is."""

    observedAt = fields.String(required=True, allow_none=True)
    ageSeconds = fields.Float(required=True, allow_none=True)


class WorkerStatusSchema(ma.Schema):
    """The worker's heartbeat, as last written to Redis."""

    heartbeatAgeSeconds = fields.Float(required=True, allow_none=True)
    nextTriggerAt = fields.String(required=True, allow_none=True)
    intervalSeconds = fields.Integer(required=True)


class SubscriberStatusSchema(ma.Schema):
    """This API process's trigger subscriber."""

    alive = fields.Boolean(required=True)
    subscribed = fields.Boolean(required=True)
    reconnects = fields.Integer(required=True)


class StatusSchema(ma.Schema):
    """Operational status: recent ingests, data age, worker and subscriber."""

    ingests = fields.List(fields.Nested(IngestSchema), required=True)
    coins = fields.Dict(keys=fields.String(), values=fields.Nested(CoinAgeSchema), required=True)
    worker = fields.Nested(WorkerStatusSchema, required=True)
    subscriber = fields.Nested(SubscriberStatusSchema, required=True)
    updateIntervalSeconds = fields.Integer(required=True)


class ReadinessCheckSchema(ma.Schema):
    """One readiness check: whether it passes and whether it decides the status (more keys vary)."""

    class Meta:
        unknown = ma.INCLUDE

    ok = fields.Boolean(required=True)
    required = fields.Boolean(required=True)


class ReadinessSchema(ma.Schema):
    """Whether this process can serve fresh data, with every check named."""

    status = fields.String(required=True, validate=validate.OneOf(("ready", "not ready")))
    mode = fields.String(required=True, validate=validate.OneOf(("fresh", "serving")))
    checks = fields.Dict(
        keys=fields.String(), values=fields.Nested(ReadinessCheckSchema), required=True
    )


NON_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"
"""A character that makes a query non-blank. Python's whitespace class also covers U+001C-U+001F,
which the Unicode White_Space (and ECMAScript) one of schema validators does not: listed so that
the document and the server agree on what blank means."""


class AskRequestSchema(ma.Schema):
    """A question in plain English (other keys are ignored)."""

    class Meta:
        unknown = ma.EXCLUDE

    query = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=300), validate.Regexp(NON_BLANK)],
        metadata={"example": "What is the price of Bitcoin?"},
    )


class AskAnswerSchema(ma.Schema):
    """The assistant's answer."""

    type = fields.String(required=True, validate=validate.OneOf(ANSWER_TYPES))
    coin = fields.String(required=True, allow_none=True)
    answer = fields.String(required=True)
    data = fields.Dict(required=True)
