"""The HTTP contract: stats and deviation per coin, and liveness."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api_server.app_state import app_state
from api_server.conditional import cached_json
from api_server.docs import (
    CACHED_READ_HEADERS,
    COIN_PARAM,
    CONDITIONAL_PARAMS,
    NOT_MODIFIED_DOC,
    REQUEST_ID_PARAM,
    header_refs,
)
from api_server.errors import CoinNotTracked, InvalidRequest, NoData
from api_server.read_model import CoinView
from api_server.schemas import DeviationSchema, ErrorSchema, HealthSchema, StatsSchema

bp = Blueprint("api", __name__, description="The original contract: stats, deviation, health")

MAX_ECHO = 40
"""How much of a rejected value an error message repeats."""

HEALTH_BODY = b'{"status": "OK"}'


def read_docs(schema: type, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document a coin read endpoint (the body is pre-rendered: the schema only documents it)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        view = bp.doc(parameters=[COIN_PARAM, *CONDITIONAL_PARAMS, REQUEST_ID_PARAM])(view)
        view = bp.alt_response(
            200, schema=schema, description=what, headers=CACHED_READ_HEADERS, success=True
        )(view)
        view = bp.alt_response(304, description=NOT_MODIFIED_DOC, headers=CACHED_READ_HEADERS)(view)
        for status, why in ERRORS.items():
            view = bp.alt_response(
                status, schema=ErrorSchema, description=why, headers=header_refs("X-Request-ID")
            )(view)
        return view

    return decorate


ERRORS = {
    400: "coin missing, repeated or not tracked (the body lists the tracked coins)",
    404: "coin tracked, no data yet",
    503: "data store unavailable",
}


@bp.route("/health", methods=["GET"])
@bp.doc(parameters=[REQUEST_ID_PARAM])
@bp.alt_response(200, schema=HealthSchema, description="The process serves", success=True)
def health() -> Response:
    """Answer while the process serves; checks no dependency."""
    return Response(HEALTH_BODY, mimetype="application/json")


@bp.route("/api/stats", methods=["GET"])
@bp.route("/stats", methods=["GET"])
@read_docs(StatsSchema, "Newest price (USD), market cap (USD) and 24 h change (%)")
def stats() -> Response:
    """Return the newest price, market cap and 24h change of a coin.

    `/stats` is the same endpoint under its original path.
    """
    view = coin_view()
    return cached_json(
        view.stats_body,
        etag=view.stats_etag,
        last_modified=view.last_modified,
        last_modified_ts=view.last_modified_ts,
        updated_ts=view.updated_ts,
    )


@bp.route("/api/deviation", methods=["GET"])
@bp.route("/deviation", methods=["GET"])
@read_docs(DeviationSchema, "Population standard deviation of the newest 100 prices (USD)")
def deviation() -> Response:
    """Return the population standard deviation of the newest 100 prices of a coin.

    Fewer prices when fewer are stored; one gives 0. `/deviation` is the same endpoint.
    """
    view = coin_view()
    return cached_json(
        view.deviation_body,
        etag=view.deviation_etag,
        last_modified=view.last_modified,
        last_modified_ts=view.last_modified_ts,
        updated_ts=view.updated_ts,
    )


def requested_coin() -> str:
    """Return the tracked coin named by the `coin` query parameter, or raise a 400."""
    values = request.args.getlist("coin")
    if len(values) > 1:
        raise InvalidRequest("give the query parameter 'coin' once")
    coin = values[0].strip().lower() if values else ""
    if not coin:
        raise InvalidRequest("missing query parameter 'coin'", coins=tracked_coins())
    if app_state().settings.coin(coin) is None:
        shown = coin if len(coin) <= MAX_ECHO else coin[:MAX_ECHO] + "..."
        raise CoinNotTracked(f"coin {shown!r} is not tracked", coins=tracked_coins())
    return coin


def coin_view() -> CoinView:
    """Return the read view of the requested coin, or raise 400/404/503."""
    coin = requested_coin()
    view = app_state().read_model.get(coin)
    if view is None:
        raise NoData(f"no data for {coin!r} yet; it is fetched on the next update")
    return view


def tracked_coins() -> list[str]:
    """Return the public names of the tracked coins."""
    return list(app_state().settings.coin_names)
