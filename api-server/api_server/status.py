"""GET /api/status: recent ingests, data age per coin, worker heartbeat, the subscriber."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Response, json
from flask_smorest import Blueprint

from api_server.app_state import AppState, app_state
from api_server.docs import REQUEST_ID_PARAM, header_refs
from api_server.errors import StoreUnavailable
from api_server.report import IngestReport
from api_server.schemas import StatusSchema
from api_server.times import iso_time
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
    state = app_state()
    settings = state.settings
    body = {
        "ingests": recent_ingests(state),
        "coins": coin_ages(state),
        "worker": worker_status(state.redis, settings),
        "subscriber": {
            "alive": state.subscriber.alive,
            "subscribed": state.subscriber.subscribed.is_set(),
            "reconnects": state.subscriber.reconnects,
        },
        "updateIntervalSeconds": settings.update_interval_seconds,
    }
    return Response(
        json.dumps(body), mimetype="application/json", headers={"Cache-Control": "no-cache"}
    )


def recent_ingests(state: AppState) -> list[dict[str, Any]]:
    """Return the newest ingest reports in the documented shape, newest first."""
    try:
        reports = state.store.recent_ingests(RECENT_INGESTS)
    except StoreUnavailable:
        reports = list(state.ingestor.recent)
    return [ingest_entry(report) for report in reports]


def ingest_entry(report: IngestReport) -> dict[str, Any]:
    """Return one ingest report in the documented shape."""
    return {
        "startedAt": iso_time(report.started_at),
        "finishedAt": iso_time(report.finished_at),
        "reason": report.reason,
        "outcome": report.outcome,
        "stored": list(report.stored),
        "skipped": dict(report.skipped),
        "duplicates": list(report.duplicates),
        "upstreamCalls": report.upstream_calls,
        "errors": list(report.errors),
        "source": report.source,
    }


def coin_ages(state: AppState) -> dict[str, dict[str, Any]]:
    """Return, per tracked coin, when its newest data was observed and how old it is."""
    settings = state.settings
    views = state.read_model.current()
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
