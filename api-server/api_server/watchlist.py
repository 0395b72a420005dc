"""Watchlists: each key's favourite coins (at most MAX_WATCHLIST), and /api/coins?watchlist=true.

One document per key (`_id` = the key's public id, `coins` in the order they were added),
changed with update_one + $addToSet / $pull, which MongoDB and mongomock run the same.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from flask_smorest import Blueprint
from pymongo.errors import DuplicateKeyError

from api_server.access import access
from api_server.action_docs import KEY_REQUIRED, STANDARD_ERRORS, WatchlistSchema, operation
from api_server.app_state import app_state
from api_server.auth import require_key
from api_server.errors import CoinNotTracked, InvalidRequest
from api_server.store import store_errors
from cryptostats.config import TrackedCoin

WATCHLISTS = "watchlists"

MAX_WATCHLIST = 100
"""Most coins one key may watch."""

bp = Blueprint("watchlist", __name__, description="Each key's favourite coins")


class WatchlistFull(InvalidRequest):
    """Adding one more coin would pass MAX_WATCHLIST (400)."""


class WatchlistStore:
    """Favourite coins per key in one MongoDB database (real or embedded)."""

    def __init__(self, database: Any) -> None:
        self.collection = database[WATCHLISTS]

    def coins(self, owner: str) -> list[str]:
        """Return an owner's coins, in the order they were added."""
        with store_errors():
            doc = self.collection.find_one({"_id": owner})
        return list(doc["coins"]) if doc else []

    def add(self, owner: str, coin: str) -> None:
        """Add a coin (idempotent), raising WatchlistFull past MAX_WATCHLIST."""
        room = {"_id": owner, f"coins.{MAX_WATCHLIST - 1}": {"$exists": False}}
        try:
            with store_errors():
                self.collection.update_one(room, {"$addToSet": {"coins": coin}}, upsert=True)
        except DuplicateKeyError:  # the document exists and is full
            if coin not in self.coins(owner):
                raise WatchlistFull(
                    f"a watchlist holds at most {MAX_WATCHLIST} coins; remove one first"
                ) from None

    def remove(self, owner: str, coin: str) -> None:
        """Remove a coin (idempotent)."""
        with store_errors():
            self.collection.update_one({"_id": owner}, {"$pull": {"coins": coin}})

    def clear(self, owner: str) -> None:
        """Forget an owner's watchlist (its key was revoked)."""
        with store_errors():
            self.collection.delete_one({"_id": owner})


COIN_PATH_PARAM = {
    "in": "path",
    "name": "coin",
    "required": True,
    "schema": {"type": "string"},
    "description": "A tracked coin's public id",
}

KEYED_ERRORS = {401: STANDARD_ERRORS[401], 503: "data store unavailable"}


@bp.route("/api/watchlist", methods=["GET"])
@operation(
    bp,
    security=KEY_REQUIRED,
    success=(200, WatchlistSchema, "The caller's coins"),
    errors=KEYED_ERRORS,
)
def get_watchlist() -> Response:
    """List the coins on the caller's watchlist."""
    owner = require_key().key_id or ""
    return _private({"coins": access().watchlists.coins(owner)})


@bp.route("/api/watchlist/<coin>", methods=["PUT"])
@operation(
    bp,
    limited=True,
    security=KEY_REQUIRED,
    success=(200, WatchlistSchema, "The coin is on the watchlist (it may have been already)"),
    errors={
        400: f"coin not tracked (the body lists the tracked coins), or {MAX_WATCHLIST} coins "
        "already watched",
        **KEYED_ERRORS,
        429: STANDARD_ERRORS[429],
    },
)
def put_watchlist(coin: str) -> Response:
    """Add a tracked coin to the caller's watchlist (idempotent)."""
    owner = require_key().key_id or ""
    coin = tracked(coin)
    store = access().watchlists
    store.add(owner, coin)
    return _private({"coins": store.coins(owner)})


@bp.route("/api/watchlist/<coin>", methods=["DELETE"])
@operation(
    bp,
    limited=True,
    security=KEY_REQUIRED,
    success=(204, None, "The coin is not on the watchlist (any more)"),
    errors={**KEYED_ERRORS, 429: STANDARD_ERRORS[429]},
)
def delete_watchlist(coin: str) -> Response:
    """Remove a coin from the caller's watchlist (idempotent, also for untracked coins)."""
    owner = require_key().key_id or ""
    access().watchlists.remove(owner, coin.strip().lower())
    return Response(status=204)


def tracked(raw: str) -> str:
    """Return the tracked coin named by a path segment, or raise a 400 listing them."""
    coin = raw.strip().lower()
    names = app_state().settings.coin_names
    if coin not in names:
        shown = coin if len(coin) <= 40 else coin[:40] + "..."
        raise CoinNotTracked(f"coin {shown!r} is not tracked", coins=list(names))
    return coin


WATCHLIST_PARAM = {
    "in": "query",
    "name": "watchlist",
    "required": False,
    "schema": {"type": "string", "enum": ["true", "false"]},
    "description": "`true`: only the coins on the caller's watchlist (needs a key; the answer "
    "is private to the key)",
}


WATCHLIST_401 = "`watchlist=true` without a valid key (or with a malformed, unknown or revoked one)"


def watched_specs(specs: list[TrackedCoin]) -> tuple[list[TrackedCoin], bool]:
    """Apply `?watchlist=true` to /api/coins: the caller's coins only; say whether it applied."""
    values = request.args.getlist("watchlist")
    if not values:
        return specs, False
    if len(values) > 1 or values[0].strip().lower() not in ("true", "false"):
        raise InvalidRequest("query parameter 'watchlist' must be given once: true or false")
    if values[0].strip().lower() == "false":
        return specs, False
    watched = set(access().watchlists.coins(require_key().key_id or ""))
    return [spec for spec in specs if spec.public in watched], True


def make_private(response: Response) -> Response:
    """Keep a per-key answer out of shared caches."""
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Authorization"
    return response


def _private(body: dict[str, Any]) -> Response:
    return make_private(Response(json.dumps(body), mimetype="application/json"))
