"""GET /api/status: recent ingests, data age per coin, worker heartbeat, the subscriber."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Response, current_app, json
from flask_smorest import Blueprint

from api_server.docs import REQUEST_ID_PARAM, header_refs
from api_server.errors import StoreUnavailable
from api_server.latest import iso_time
from api_server.schemas import StatusSchema
from api_server.services import Services, services
from api_server.store import from_bson_time
from cryptostats.config import Settings
from cryptostats.heartbeat import read_heartbeat

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__, description="Operational status")

RECENT_INGESTS = 20
"""How many ingests /api/status lists."""


@bp.route("/api/status", methods=["GET"])
@bp.doc(parameters=[REQUEST_ID_PARAM])
@bp.alt_response(
    200,
    schema=StatusSchema,
    description="Status; parts that cannot be read (store, Redis) are empty or null",
    headers=header_refs("X-Request-ID"),
    success=True,
)
def status() -> Response:
    """Report the newest ingests, the age of each coin's data and the worker's heartbeat.

    Ingests come from the store's ingest log (every process's), or from this process's memory
    when the store is unreachable. Always 200: a part that cannot be read is empty or null.
    """
    settings: Settings = current_app.config["SETTINGS"]
    found = services()
    body = {
        "ingests": recent_ingests(found),
        "coins": coin_ages(found, settings),
        "worker": worker_status(found.redis, settings),
        "subscriber": {
            "alive": found.subscriber.alive,
            "subscribed": found.subscriber.subscribed.is_set(),
            "reconnects": found.subscriber.reconnects,
        },
        "updateIntervalSeconds": settings.update_interval_seconds,
    }
    return Response(
        json.dumps(body), mimetype="application/json", headers={"Cache-Control": "no-cache"}
    )


def recent_ingests(found: Services) -> list[dict[str, Any]]:
    """Return the newest ingest summaries in the documented shape, newest first."""
    try:
        docs = found.store.recent_ingests(RECENT_INGESTS)
    except StoreUnavailable:
        docs = [report.to_dict() for report in found.ingestor.recent]
    return [ingest_entry(doc) for doc in docs]


def ingest_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """Return one ingest log document in the documented shape."""
    return {
        "startedAt": _time(doc.get("startedAt")),
        "finishedAt": _time(doc.get("finishedAt")),
        "reason": str(doc.get("reason", "")),
        "outcome": str(doc.get("outcome", "")),
        "stored": [str(coin) for coin in doc.get("stored") or []],
        "skipped": {str(k): str(v) for k, v in (doc.get("skipped") or {}).items()},
        "duplicates": [str(coin) for coin in doc.get("duplicates") or []],
        "upstreamCalls": int(doc.get("upstreamCalls") or 0),
        "errors": [str(e) for e in doc.get("errors") or []],
        "source": str(doc.get("source", "")),
    }


def coin_ages(found: Services, settings: Settings) -> dict[str, dict[str, Any]]:
    """Return, per tracked coin, when its newest data was observed and how old it is."""
    views = found.view.current()
    now = datetime.now(UTC)
    ages: dict[str, dict[str, Any]] = {}
    for coin in settings.coin_names:
        view = views.get(coin)
        observed = view.snapshot.observed_at if view is not None else None
        ages[coin] = {
            "observedAt": iso_time(observed),
            "ageSeconds": None if observed is None else round((now - observed).total_seconds(), 1),
        }
    return ages


def worker_status(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Return the worker's heartbeat age and next trigger, or nulls when it cannot be read."""
    found = read_heartbeat(client, settings.redis_channel)
    beat = found.heartbeat
    if beat is None or found.age_seconds is None:
        if found.problem and found.problem.startswith("Redis"):
            log.warning("cannot read the worker heartbeat: %s", found.problem)
        return {
            "heartbeatAgeSeconds": None,
            "nextTriggerAt": None,
            "intervalSeconds": settings.update_interval_seconds,
        }
    nxt = beat.next_trigger_at
    return {
        "heartbeatAgeSeconds": round(found.age_seconds, 1),
        "nextTriggerAt": None if nxt is None else iso_time(datetime.fromtimestamp(nxt, UTC)),
        "intervalSeconds": beat.interval_seconds,
    }


def _time(value: Any) -> str | None:
    return iso_time(from_bson_time(value)) if isinstance(value, datetime) else None
