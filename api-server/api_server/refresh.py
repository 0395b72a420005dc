"""Manual refresh: publish the worker's trigger, at most once per REFRESH_MIN_SECONDS everywhere.

The window is one Redis key set with `SET NX PX`: whichever process or replica sets it may
publish; every other request until it expires gets a JSON 429 with Retry-After and publishes
nothing. Only manual refreshes take the key (the worker's triggers and the start-up catch-up do
not). When no API process received the trigger, nothing will be fetched, so the key is released.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Response, json, request
from flask_smorest import Blueprint

from api_server.access import access
from api_server.action_docs import (
    KEY_OR_LOCAL,
    STANDARD_ERRORS,
    RefreshSchema,
    RefreshStateSchema,
    operation,
)
from api_server.auth import anonymous_writes_allowed, current_caller, require_writer
from api_server.errors import ApiError
from cryptostats.messages import KEY_PREFIX, UpdateTrigger

bp = Blueprint("refresh", __name__, description="Manual refresh of market data")


class RefreshTooSoon(ApiError):
    """A manual refresh inside the window of the previous one (429)."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"a refresh was requested less than the minimum interval ago; retry in {retry_after} s",
            retryAfterSeconds=retry_after,
        )
        self.retry_after = retry_after


class BrokerUnavailable(ApiError):
    """Redis cannot be reached, so nothing can be published (503)."""

    status = 503


def refresh_key(channel: str) -> str:
    """Return the Redis key that holds the current manual-refresh window."""
    return f"{KEY_PREFIX}:{channel}:manual-refresh"


def request_refresh(client: redis.Redis, channel: str, min_seconds: int) -> int:
    """Publish one trigger unless the window is taken; return the receivers or raise 429/503."""
    key = refresh_key(channel)
    try:
        if not client.set(key, str(time.time()), nx=True, px=min_seconds * 1000):
            raise RefreshTooSoon(max(1, seconds_left(client, channel)))  # it may expire meanwhile
        receivers = int(client.publish(channel, UpdateTrigger().encode()))  # type: ignore[arg-type]
        if receivers == 0:
            client.delete(key)
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"broker unavailable ({type(exc).__name__})") from exc
    return receivers


def seconds_left(client: redis.Redis, channel: str) -> int:
    """Return the whole seconds until a manual refresh is allowed again (0: now)."""
    millis = int(client.pttl(refresh_key(channel)))  # type: ignore[arg-type]
    return max(0, math.ceil(millis / 1000)) if millis > 0 else 0


WRITE_ERRORS = {
    401: STANDARD_ERRORS[401] + "; anonymous from a non-local address (ANONYMOUS_WRITES)",
    429: "a refresh less than REFRESH_MIN_SECONDS ago (nothing published), or this client's "
    "write rate limit: wait `Retry-After` seconds",
    503: "Redis unavailable: nothing published",
}


@bp.route("/api/refresh", methods=["POST"])
@bp.route("/trigger-update", methods=["POST"])
@operation(
    bp,
    limited=True,
    security=KEY_OR_LOCAL,
    success=(200, RefreshSchema, "The trigger was published to `receivers` API processes"),
    errors=WRITE_ERRORS,
)
def refresh() -> Response:
    """Fetch fresh market data now: publish the worker's update trigger.

    At most one upstream fetch per REFRESH_MIN_SECONDS across every process and replica.
    `/trigger-update` is the same endpoint (the seed dashboard's "Refresh Data" button).
    """
    require_writer()
    found = access()
    receivers = request_refresh(found.redis, found.channel, found.settings.refresh_min_seconds)
    return _json({"status": "triggered", "receivers": receivers})


@bp.route("/api/refresh", methods=["GET"])
@operation(
    bp,
    security=None,
    success=(200, RefreshStateSchema, "When the next manual refresh is allowed"),
    errors={503: "Redis unavailable"},
)
def refresh_state() -> Response:
    """Say when the next manual refresh is allowed, and whether this caller may ask for it."""
    found = access()
    try:
        left = seconds_left(found.redis, found.channel)
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"broker unavailable ({type(exc).__name__})") from exc
    try:
        anonymous = current_caller().anonymous
    except ApiError:
        anonymous = True
    body: dict[str, Any] = {
        "minSeconds": found.settings.refresh_min_seconds,
        "retryAfterSeconds": left,
        "nextAllowedAt": None
        if left == 0
        else datetime.fromtimestamp(time.time() + left, UTC).isoformat(timespec="seconds"),
        "anonymousAllowed": anonymous and anonymous_writes_allowed(request.remote_addr),
    }
    return _json(body, cache="no-store")


def _json(body: dict[str, Any], *, cache: str | None = None) -> Response:
    response = Response(json.dumps(body), mimetype="application/json")
    if cache is not None:
        response.headers["Cache-Control"] = cache
    return response
