"""`GET /ready`: can this process serve fresh data? One JSON body naming every check.

Required checks decide the status (200 ready, 503 not). In the default mode, `fresh`: Redis
answers, the store answers, this process's subscriber thread is alive and subscribed, and every
tracked coin has data younger than STALE_AFTER_INTERVALS update intervals. The worker's heartbeat
and the last ingest are reported for the operator but do not make the API unready: restarting the
API would not fix either.

`?mode=serving` asks the question of a load balancer's readiness probe: can this process answer
reads from stored data? Only the store is required. Redis, the subscriber and the data's age are
still checked and reported, but they are shared by every replica: when the worker or CoinGecko
stops, every replica's data ages at once, and taking them all out of service would stop serving
data that is slightly old but still there (and still correct about its own age).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Response, json, request
from flask_smorest import Blueprint

from api_server.app_state import AppState, app_state
from api_server.docs import REQUEST_ID_PARAM, header_refs, query_param
from api_server.errors import InvalidRequest, StoreUnavailable
from api_server.report import IngestReport
from api_server.schemas import ErrorSchema, ReadinessSchema
from api_server.times import ready_time
from cryptostats.heartbeat import HEARTBEAT_MAX_AGE, read_heartbeat

ERROR_HEADERS = header_refs("X-Request-ID")

bp = Blueprint("readiness", __name__, description="Readiness of this API process")

STALE_AFTER_INTERVALS = 2
"""Data older than this many update intervals is stale: at least one trigger was missed."""

MODES = ("fresh", "serving")
"""`?mode=`: fresh (the default) requires fresh data; serving requires only a readable store."""

SERVING_REQUIRES = frozenset({"store"})
"""The checks that decide the status in the serving mode."""


MODE_PARAM = query_param(
    "mode",
    {"type": "string", "enum": list(MODES), "default": "fresh"},
    "fresh: every check but the worker's and the last ingest's is required (data younger than 2 "
    "update intervals); serving: only the store is, the others are reported (for load balancer "
    "readiness probes: stale data is still served).",
)


@bp.route("/ready", methods=["GET"])
@bp.doc(parameters=[REQUEST_ID_PARAM, MODE_PARAM])
@bp.alt_response(
    200,
    schema=ReadinessSchema,
    description="Every required check passes (fresh: redis, store, subscriber, fresh data; "
    "serving: store)",
    headers=header_refs("X-Request-ID"),
    success=True,
)
@bp.alt_response(
    400, schema=ErrorSchema, description="an unknown or repeated mode", headers=ERROR_HEADERS
)
@bp.alt_response(
    503,
    schema=ReadinessSchema,
    description="A required check fails; the body names which",
    headers=header_refs("X-Request-ID"),
)
def ready() -> Response:
    """Answer 200 when every required check passes, else 503; always name every check."""
    mode = _mode()
    found = app_state()
    interval = found.settings.update_interval_seconds
    store = store_check(found)
    # With the store down, skip the checks that would each wait for it again.
    checks = {
        "redis": redis_check(found.redis),
        "store": store,
        "subscriber": subscriber_check(found),
        "data": data_check(found, interval) if store["ok"] else _needs_store(),
        "worker": worker_check(found),
        "lastIngest": last_ingest_check(found, from_store=store["ok"]),
    }
    if mode == "serving":
        for name, check in checks.items():
            check["required"] = name in SERVING_REQUIRES
    is_ready = all(check["ok"] for check in checks.values() if check["required"])
    body = {"status": "ready" if is_ready else "not ready", "mode": mode, "checks": checks}
    return Response(json.dumps(body), status=200 if is_ready else 503, mimetype="application/json")


def _mode() -> str:
    values = request.args.getlist("mode")
    if len(values) > 1:
        raise InvalidRequest("give the query parameter 'mode' once")
    mode = values[0].strip() if values else "fresh"
    if mode not in MODES:
        raise InvalidRequest(f"query parameter 'mode' must be one of: {', '.join(MODES)}")
    return mode


def redis_check(client: redis.Redis) -> dict[str, Any]:
    """Ping Redis and time it."""
    started = time.perf_counter()
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "required": True, "error": _error(exc)}
    return {"ok": True, "required": True, "latencyMs": _ms(started)}


def store_check(found: AppState) -> dict[str, Any]:
    """Ping the data store and time it."""
    started = time.perf_counter()
    try:
        found.store.ping()
    except StoreUnavailable as exc:
        return {"ok": False, "required": True, "error": exc.message, "latencyMs": _ms(started)}
    return {
        "ok": True,
        "required": True,
        "embedded": found.store.embedded,
        "latencyMs": _ms(started),
    }


def subscriber_check(found: AppState) -> dict[str, Any]:
    """Report whether this process's subscriber thread runs and is subscribed."""
    sub = found.subscriber
    alive, subscribed = sub.alive, sub.subscribed.is_set()
    return {
        "ok": alive and subscribed,
        "required": True,
        "alive": alive,
        "subscribed": subscribed,
        "reconnects": sub.reconnects,
        "triggers": sub.triggers,
        "lastError": sub.last_error,
    }


def data_check(found: AppState, interval: int) -> dict[str, Any]:
    """Report the age and sample count of every tracked coin's newest data."""
    limit = STALE_AFTER_INTERVALS * interval
    try:
        views = found.read_model.all()
    except StoreUnavailable as exc:
        return {"ok": False, "required": True, "error": exc.message}
    now = datetime.now(UTC)
    coins: dict[str, Any] = {}
    for coin in found.settings.coin_names:
        view = views.get(coin)
        if view is None:
            coins[coin] = {"fresh": False, "ageSeconds": None, "samples": 0}
            continue
        snap = view.snapshot
        age = (now - snap.updated_at).total_seconds()
        coins[coin] = {
            "fresh": age <= limit,
            "ageSeconds": round(age, 3),
            "observedAt": ready_time(snap.observed_at),
            "samples": snap.samples,
        }
    ok = all(entry["fresh"] for entry in coins.values())
    return {"ok": ok, "required": True, "staleAfterSeconds": limit, "coins": coins}


def worker_check(found: AppState) -> dict[str, Any]:
    """Report the age of the worker's heartbeat (informational)."""
    beat = read_heartbeat(found.redis, found.settings.redis_channel)
    result: dict[str, Any] = {
        "ok": beat.fresh,
        "required": False,
        "heartbeatAgeSeconds": beat.age_seconds,
        "maxAgeSeconds": HEARTBEAT_MAX_AGE,
    }
    if beat.heartbeat is not None and beat.heartbeat.next_trigger_at is not None:
        result["nextTriggerInSeconds"] = round(beat.heartbeat.next_trigger_at - time.time(), 3)
    if beat.problem:
        result["error"] = beat.problem
    return result


def last_ingest_check(found: AppState, *, from_store: bool = True) -> dict[str, Any]:
    """Report the newest ingest of any process (from the store), or of this one (informational)."""
    newest: list[IngestReport] = []
    try:
        if from_store:
            newest = found.store.recent_ingests(1)
    except StoreUnavailable:
        from_store = False
    if not from_store and found.ingestor.recent:
        newest = [found.ingestor.recent[0]]
    if not newest:
        return {"ok": False, "required": False, "error": "no ingest yet"}
    report = {key: _plain(value) for key, value in newest[0].to_dict().items()}
    return {"ok": newest[0].outcome == "ok", "required": False, **report}


def _needs_store() -> dict[str, Any]:
    return {"ok": False, "required": True, "error": "unknown: the data store is unreachable"}


def _plain(value: Any) -> Any:
    return ready_time(value) if isinstance(value, datetime) else value


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
