"""Read endpoints beyond the original contract: every tracked coin, and a coin's stored series."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api_server.action_docs import BEARER_SCHEME
from api_server.app_state import app_state
from api_server.buckets import choose_interval
from api_server.conditional import cached_body, max_age
from api_server.contract import requested_coin
from api_server.docs import (
    CACHED_READ_HEADERS,
    COIN_PARAM,
    CONDITIONAL_PARAMS,
    LIMIT_PARAM,
    NOT_MODIFIED_DOC,
    REQUEST_ID_PARAM,
    header_refs,
    query_param,
)
from api_server.errors import InvalidRequest, NoData
from api_server.history_view import FORMATS, history_response
from api_server.read_model import CoinView
from api_server.schemas import (
    HISTORY_INTERVALS,
    MAX_HISTORY_DAYS,
    MAX_HISTORY_POINTS,
    SORT_KEYS,
    CoinListSchema,
    ErrorSchema,
    HistorySchema,
)
from api_server.times import iso_time
from api_server.watchlist import WATCHLIST_401, WATCHLIST_PARAM, make_private, watched_specs
from cryptostats.config import TrackedCoin

bp = Blueprint("market", __name__, description="Every tracked coin, and stored history")

DEFAULT_HISTORY_DAYS = 7
"""The window of /api/history when `days` is not given."""

WHOLE_NUMBER = re.compile(r"^[0-9]{1,6}$")
"""What an integer query parameter may look like (no sign, no decimals)."""

ERROR_HEADERS = header_refs("X-Request-ID")


@bp.route("/api/coins", methods=["GET"])
@bp.doc(
    parameters=[
        query_param(
            "sort",
            {"type": "string", "enum": list(SORT_KEYS)},
            "Sort key; without it the coins come in configured order. Coins with no data last.",
        ),
        query_param(
            "order",
            {"type": "string", "enum": ["desc", "asc"]},
            "With `sort`: default `desc`, except `asc` for `coin`.",
        ),
        LIMIT_PARAM,
        WATCHLIST_PARAM,
        *CONDITIONAL_PARAMS,
        REQUEST_ID_PARAM,
    ],
    security=[{}, {BEARER_SCHEME: []}],
)
@bp.alt_response(
    200,
    schema=CoinListSchema,
    description="The tracked coins with their newest data",
    headers=CACHED_READ_HEADERS,
    success=True,
)
@bp.alt_response(304, description=NOT_MODIFIED_DOC, headers=CACHED_READ_HEADERS)
@bp.alt_response(
    400,
    schema=ErrorSchema,
    description="bad sort, order, limit or watchlist",
    headers=ERROR_HEADERS,
)
@bp.alt_response(401, schema=ErrorSchema, description=WATCHLIST_401, headers=ERROR_HEADERS)
@bp.alt_response(
    503, schema=ErrorSchema, description="data store unavailable", headers=ERROR_HEADERS
)
def coins() -> Response:
    """List every tracked coin with its newest price, market cap, 24 h change and deviation.

    A tracked coin with no data yet is listed with null numbers and times and `samples` 0.
    """
    state = app_state()
    specs = list(state.settings.coins)
    sort = _choice("sort", SORT_KEYS)
    order = _choice("order", ("desc", "asc"))
    limit = _limit(len(specs))
    specs, private = watched_specs(specs)
    views = state.read_model.all()
    entries = [coin_entry(spec, views.get(spec.public)) for spec in specs]
    if sort is not None:
        entries = sort_coins(entries, sort, order or ("asc" if sort == "coin" else "desc"))
    entries = entries[:limit]
    body = json.dumps({"coins": entries, "count": len(entries)}).encode()
    shown = [views[e["coin"]] for e in entries if e["coin"] in views]
    response = cached_body(
        body,
        last_modified=max(
            (min(v.snapshot.observed_at, v.snapshot.updated_at) for v in shown), default=None
        ),
        updated_ts=max((v.updated_ts for v in shown), default=None),
    )
    return make_private(response) if private else response


def coin_entry(spec: TrackedCoin, view: CoinView | None) -> dict[str, Any]:
    """Return the /api/coins entry of a coin (nulls when it has no data yet)."""
    if view is None:
        return {
            "coin": spec.public,
            "symbol": "",
            "name": "",
            "price": None,
            "marketCap": None,
            "24hChange": None,
            "volume24h": None,
            "deviation": None,
            "samples": 0,
            "observedAt": None,
            "updatedAt": None,
            "source": None,
        }
    snap = view.snapshot
    newest = snap.newest
    return {
        "coin": spec.public,
        "symbol": snap.label.symbol,
        "name": snap.label.name,
        "price": newest.price,
        "marketCap": newest.market_cap,
        "24hChange": newest.change_24h,
        "volume24h": newest.volume_24h,
        "deviation": snap.deviation,
        "samples": snap.samples,
        "observedAt": iso_time(snap.observed_at),
        "updatedAt": iso_time(snap.updated_at),
        "source": newest.source,
    }


def sort_coins(entries: list[dict[str, Any]], key: str, order: str) -> list[dict[str, Any]]:
    """Sort coin entries by a key; entries whose key is null always come last."""
    known = [e for e in entries if e[key] is not None]
    unknown = [e for e in entries if e[key] is None]
    known.sort(key=lambda e: e[key], reverse=order == "desc")
    return known + unknown


@bp.route("/api/history", methods=["GET"])
@bp.doc(
    parameters=[
        COIN_PARAM,
        query_param(
            "days",
            {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_DAYS, "default": 7},
            f"How many days back from now (1..{MAX_HISTORY_DAYS}, default 7).",
        ),
        query_param(
            "interval",
            {"type": "string", "enum": list(HISTORY_INTERVALS)},
            f"Bucket width. Default: the finest with at most {MAX_HISTORY_POINTS} buckets over "
            "`days` (1-3 days: 5m, 4-41: 1h, more: 1d); a finer one than that is a 400 naming "
            "the largest `days` it allows.",
        ),
        query_param(
            "format",
            {"type": "string", "enum": list(FORMATS)},
            "`csv`: text/csv with a header row (time,open,high,low,close,marketCap,volume24h) "
            "as an attachment.",
        ),
        *CONDITIONAL_PARAMS,
        REQUEST_ID_PARAM,
    ]
)
@bp.alt_response(
    200,
    schema=HistorySchema,
    description="The coin's buckets (trigger and backfilled records), oldest first; with "
    "`format=csv` the same rows as text/csv",
    headers=CACHED_READ_HEADERS,
    success=True,
)
@bp.alt_response(304, description=NOT_MODIFIED_DOC, headers=CACHED_READ_HEADERS)
@bp.alt_response(
    400,
    schema=ErrorSchema,
    description="coin missing, repeated or not tracked; days not a whole number in 1..365; "
    "interval or format unknown; interval too fine for days (`maxDays` says how many it allows)",
    headers=ERROR_HEADERS,
)
@bp.alt_response(
    404, schema=ErrorSchema, description="coin tracked, no data yet", headers=ERROR_HEADERS
)
@bp.alt_response(
    503, schema=ErrorSchema, description="data store unavailable", headers=ERROR_HEADERS
)
def history() -> Response:
    """Return a coin's OHLC buckets, volume and deviation over the last `days` days, newest last.

    Backfilled records (from CoinGecko's market chart at start) count as history; they are
    never inputs of /api/deviation, so their buckets' `deviation` is null.
    """
    coin = requested_coin()
    days = _days()
    interval = _single("interval")
    fmt = _choice("format", FORMATS)
    choose_interval(days, interval)  # 400 before any lookup
    state = app_state()
    view = state.read_model.get(coin)
    version = state.read_model.history_version(coin)
    if version is None and view is not None:  # stored before history versions existed
        version = str(view.updated_ts)
    if version is None:
        raise NoData(f"no data for {coin!r} yet; it is fetched on the next update")
    return history_response(
        state.history.buckets,
        coin=coin,
        days=days,
        interval=interval,
        fmt=fmt,
        data_version=version,
        now=state.history.now(),
        max_age=max_age(view.updated_ts if view is not None else None),
        rendered=state.history.rendered,
    )


def _single(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"give the query parameter {name!r} once")
    return values[0].strip() if values else None


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = _single(name)
    if value is None:
        return None
    if value not in allowed:
        raise InvalidRequest(f"query parameter {name!r} must be one of: {', '.join(allowed)}")
    return value


def _whole(name: str, low: int, high: int) -> int | None:
    value = _single(name)
    if value is None:
        return None
    if not WHOLE_NUMBER.match(value) or not low <= int(value) <= high:
        raise InvalidRequest(f"query parameter {name!r} must be a whole number in {low}..{high}")
    return int(value)


def _limit(tracked: int) -> int:
    limit = _whole("limit", 1, tracked)
    return tracked if limit is None else limit


def _days() -> int:
    days = _whole("days", 1, MAX_HISTORY_DAYS)
    return DEFAULT_HISTORY_DAYS if days is None else days
