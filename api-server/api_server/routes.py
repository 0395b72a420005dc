"""The HTTP contract: stats and deviation per coin, and liveness."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from api_server.errors import CoinNotTracked, InvalidRequest, NoData
from api_server.latest import CoinView
from api_server.services import services

bp = Blueprint("api", __name__)

MAX_ECHO = 40
"""How much of a rejected value an error message repeats."""

HEALTH_BODY = b'{"status": "OK"}'


@bp.get("/health")
def health() -> Response:
    """Answer while the process serves; checks no dependency."""
    return Response(HEALTH_BODY, mimetype="application/json")


@bp.get("/api/stats")
@bp.get("/stats")
def stats() -> Response:
    """Return the newest price, market cap and 24h change of a coin."""
    return Response(coin_view().stats_body, mimetype="application/json")


@bp.get("/api/deviation")
@bp.get("/deviation")
def deviation() -> Response:
    """Return the population standard deviation of the newest 100 prices of a coin."""
    return Response(coin_view().deviation_body, mimetype="application/json")


def requested_coin() -> str:
    """Return the tracked coin named by the `coin` query parameter, or raise a 400."""
    values = request.args.getlist("coin")
    if len(values) > 1:
        raise InvalidRequest("give the query parameter 'coin' once")
    coin = values[0].strip().lower() if values else ""
    if not coin:
        raise InvalidRequest("missing query parameter 'coin'", coins=tracked_coins())
    if current_app.config["SETTINGS"].coin(coin) is None:
        shown = coin if len(coin) <= MAX_ECHO else coin[:MAX_ECHO] + "..."
        raise CoinNotTracked(f"coin {shown!r} is not tracked", coins=tracked_coins())
    return coin


def coin_view() -> CoinView:
    """Return the read view of the requested coin, or raise 400/404/503."""
    coin = requested_coin()
    view = services().view.get(coin)
    if view is None:
        raise NoData(f"no data for {coin!r} yet; it is fetched on the next update")
    return view


def tracked_coins() -> list[str]:
    """Return the public names of the tracked coins."""
    return list(current_app.config["SETTINGS"].coin_names)
