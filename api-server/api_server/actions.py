"""Users and actions wired into the app: keys, the write policy, refresh, watchlists, limits.

create_app calls `install_actions` once its blueprints are registered; nothing else imports this.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response

from api_server import alerts_api, keys_api, refresh, watchlist
from api_server.access import Access
from api_server.access_config import AccessSettings
from api_server.action_docs import register_bearer
from api_server.app_state import state_of
from api_server.auth import Unauthorized
from api_server.handlers import json_error
from api_server.keys import KeyStore
from api_server.limits import install_limits
from api_server.refresh import RefreshTooSoon
from api_server.watchlist import WatchlistStore
from cryptostats.config import Settings

log = logging.getLogger(__name__)

BLUEPRINTS = (refresh.bp, keys_api.bp, watchlist.bp, alerts_api.bp)
"""The action endpoints, registered on the documented API by create_app."""


def install_actions(
    app: Flask,
    api: Any,
    *,
    settings: Settings,
    access_settings: AccessSettings | None,
    database: Any,
    redis_client: redis.Redis,
) -> None:
    """Register the action endpoints, their collaborators, error answers and rate limits."""
    access_settings = access_settings or AccessSettings.from_env()
    keys = KeyStore(database)
    try:
        keys.ensure_indexes()
    except Exception as exc:  # the store may come up later; key lookups answer 503 until then
        log.warning("could not create the api_keys index yet: %s", exc)
    state_of(app).access = Access(
        settings=access_settings,
        keys=keys,
        watchlists=WatchlistStore(database),
        redis=redis_client,
        channel=settings.redis_channel,
    )
    register_bearer(api)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    install_limits(app, access_settings, redis_client)

    @app.errorhandler(Unauthorized)
    def unauthorized(exc: Unauthorized) -> Response:
        response = json_error(exc.status, exc.to_dict())
        response.headers["WWW-Authenticate"] = 'Bearer realm="cryptostats"'
        return response

    @app.errorhandler(RefreshTooSoon)
    def too_soon(exc: RefreshTooSoon) -> Response:
        response = json_error(exc.status, exc.to_dict())
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    log.info(
        "write policy: anonymous writes %s; admin key %s",
        {"local": "from the local machine only", "none": "refused", "any": "ALLOWED FROM ANYWHERE"}[
            access_settings.anonymous_writes
        ],
        "set" if access_settings.admin_api_key else "unset",
    )
