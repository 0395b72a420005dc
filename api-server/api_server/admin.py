"""POST /api/admin/backfill: the operator's backfill, run inside the API (loopback only).

The embedded store lives inside the API process, so `cryptostats-backfill` asks the running API
to backfill it. The endpoint answers only requests from the same host (127.0.0.1 or ::1) that
came through no proxy (no X-Forwarded-For, Forwarded or X-Real-IP header, not from a trusted
proxy): anything else gets a JSON 403.
The answer streams NDJSON lines as the run goes: `{"planned": [...]}`, one `{"coin": ...}` per
coin, then `{"report": ...}`; 409 when another backfill holds the claim.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from flask import Blueprint, Response, request

from api_server.app_state import app_state
from api_server.backfill import Backfiller, BackfillReport, CoinBackfill
from api_server.errors import ApiError, InvalidRequest
from api_server.forwarded import PROXY_ADDR
from cryptostats.config import parse_coins
from cryptostats.errors import ConfigError

bp = Blueprint("admin", __name__)
"""Not in the OpenAPI document: an operator's tool, reachable from the API's own host only."""

LOOPBACK = frozenset({"127.0.0.1", "::1"})
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


class Forbidden(ApiError):
    """The request did not come from this host directly."""

    status = 403


class BackfillBusy(ApiError):
    """Another backfill holds the claim."""

    status = 409


class LineProgress:
    """Queues one JSON line per event, for the streamed answer."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()

    def planned(self, plan: Sequence[CoinBackfill]) -> None:
        """Queue the plan."""
        coins = [{"coin": item.spec.public, "days": item.days} for item in plan]
        self.lines.put(json.dumps({"planned": coins}) + "\n")

    def coin_done(self, coin: str, stored: int, problem: str | None) -> None:
        """Queue one coin's outcome."""
        self.lines.put(json.dumps({"coin": coin, "stored": stored, "problem": problem}) + "\n")


@bp.route("/api/admin/backfill", methods=["POST"])
def backfill() -> Response:
    """Backfill the tracked coins now, streaming progress (loopback only)."""
    if not direct_local_request():
        raise Forbidden("the admin endpoint answers only local, direct requests")
    job = app_state().backfill
    backfiller = _backfiller(job.backfiller)
    progress = LineProgress()
    reports: list[BackfillReport | None] = []

    def run() -> None:
        try:
            reports.append(job.run_once(progress, backfiller))
        finally:
            progress.lines.put(None)

    worker = threading.Thread(target=run, name="admin-backfill", daemon=True)
    worker.start()
    first = progress.lines.get()
    if first is None:
        worker.join()
        if not reports or reports[0] is None:
            raise BackfillBusy("another backfill is running (or BACKFILL_DAYS is 0)")
    return Response(_stream(first, progress, reports), mimetype="application/x-ndjson")


def direct_local_request() -> bool:
    """Whether the request comes from this host and through no proxy.

    The trusted-proxies middleware (forwarded.py) drops X-Forwarded-For from untrusted peers and
    marks requests from trusted ones (PROXY_ADDR); the project's nginx also sets X-Real-IP.
    """
    if request.remote_addr not in LOOPBACK or PROXY_ADDR in request.environ:
        return False
    return not any(header in request.headers for header in PROXY_HEADERS)


def _stream(
    first: str | None, progress: LineProgress, reports: list[BackfillReport | None]
) -> Iterator[str]:
    line = first
    while line is not None:
        yield line
        line = progress.lines.get()
    report = reports[0] if reports else None
    body: dict[str, Any] = report.to_dict() if report is not None else {}
    yield json.dumps({"report": body}, default=str) + "\n"


def _backfiller(base: Backfiller) -> Backfiller:
    days = request.args.get("days")
    coins = request.args.get("coins")
    chosen = base.coins
    if coins:
        try:
            wanted = {spec.public for spec in parse_coins(coins)}
        except ConfigError as exc:
            raise InvalidRequest(f"query parameter 'coins': {exc.problem}") from None
        chosen = tuple(spec for spec in base.coins if spec.public in wanted)
        if len(chosen) != len(wanted):
            raise InvalidRequest("query parameter 'coins' names a coin that is not tracked")
    span = base.days
    if days is not None:
        if not days.isdigit() or not 1 <= int(days) <= 365:
            raise InvalidRequest("query parameter 'days' must be a whole number in 1..365")
        span = int(days)
    return Backfiller(
        coins=chosen,
        days=span,
        charts=base.charts,
        history=base.history,
        buckets=base.buckets,
        spacer=base.spacer,
        clock=base.clock,
    )
