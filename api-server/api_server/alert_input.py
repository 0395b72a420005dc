"""What a request to the alert endpoints says: its owner, its body's fields, its answer.

Every check raises InvalidRequest naming the field (a JSON 400): bad input never reaches the store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from flask import Response, json, request

from api_server.alert_wiring import alerts
from api_server.alerts import ANONYMOUS_OWNER, TooManyAlerts
from api_server.auth import require_writer
from api_server.errors import InvalidRequest
from api_server.watchlist import make_private, tracked
from api_server.webhooks import UnsafeWebhook, destination


def alert_owner() -> str:
    """Return the caller's owner id: its key, or the shared anonymous owner (policy allowing)."""
    caller = require_writer()
    return caller.key_id or ANONYMOUS_OWNER


def create_alert_for(
    who: str,
    coin: str,
    kind: str,
    threshold: float,
    *,
    webhook: str | None = None,
    seed: bool = False,
) -> dict[str, Any]:
    """Create an alert, turning the per-owner limit into a 400."""
    try:
        return alerts().store.create(
            who, coin, kind, threshold, webhook=webhook, seed=seed, now=datetime.now(UTC)
        )
    except TooManyAlerts as exc:
        raise InvalidRequest(str(exc)) from None


def json_body() -> dict[str, Any]:
    """Return the request's JSON object body, or raise a 400."""
    raw = request.get_data(cache=True)  # raises the JSON 413 when over MAX_CONTENT_LENGTH
    try:
        payload: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object")
    return payload


def coin_of(payload: dict[str, Any]) -> str:
    """Return the tracked coin a body names, or raise a 400 (listing the tracked coins)."""
    coin = payload.get("coin")
    if not isinstance(coin, str) or not coin.strip():
        raise InvalidRequest('"coin" must be a tracked coin\'s id', field="coin")
    return tracked(coin)


def threshold_of(raw: Any, field: str) -> float:
    """Return a positive finite threshold, or raise a 400 naming the field."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidRequest(f'"{field}" must be a positive number', field=field)
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequest(f'"{field}" must be a positive finite number', field=field)
    return value


def webhook_of(raw: Any) -> str | None:
    """Return a checked webhook URL (or None), or raise a 400."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidRequest('"webhook" must be an http(s) URL or null', field="webhook")
    try:
        destination(raw, allow_private=alerts().settings.allow_private)
    except UnsafeWebhook as exc:
        raise InvalidRequest(str(exc), field="webhook") from None
    return raw


def since_of() -> datetime | None:
    """Return the `since` query parameter as an aware time, or None."""
    values = request.args.getlist("since")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest("query parameter 'since' must be given once", field="since")
    try:
        moment = datetime.fromisoformat(values[0].strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("'since' must be an ISO 8601 time", field="since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def private_json(body: Any, *, status: int = 200) -> Response:
    """Return a JSON answer that no shared cache keeps."""
    return make_private(Response(json.dumps(body), status=status, mimetype="application/json"))
