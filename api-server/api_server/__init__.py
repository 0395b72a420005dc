"""The cryptostats API: a Flask app factory and the collaborators it wires together."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import redis
from flask import Flask, request
from werkzeug.exceptions import RequestURITooLarge

from api_server import ask, catalog, observability, status
from api_server.access_config import AccessSettings
from api_server.actions import install_actions
from api_server.coingecko import CoinGeckoClient
from api_server.dashboard import bp as dashboard_bp
from api_server.docs import create_api
from api_server.handlers import register_error_handlers
from api_server.ingest import Ingestor, MarketSource
from api_server.latest import LatestView
from api_server.metrics import Metrics
from api_server.observability import install_observability
from api_server.readiness import bp as readiness_bp
from api_server.routes import bp
from api_server.services import EXTENSION, Services
from api_server.store import Store
from api_server.subscriber import Subscriber
from cryptostats.config import Settings

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 4096
"""Longest query string accepted; longer ones get a JSON 414."""

MAX_BODY_BYTES = 4096
"""Largest request body accepted; larger ones get a JSON 413."""

EMBEDDED_BANNER = (
    "MONGO_URI is unset: using the EMBEDDED IN-MEMORY store (mongomock). Data lives only in "
    "this process and is LOST when it stops. Set MONGO_URI for a real MongoDB."
)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    redis_client: redis.Redis | None = None,
    source: MarketSource | None = None,
    access: AccessSettings | None = None,
) -> Flask:
    """Build the app; collaborators default to real clients made from settings."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # the dashboard blueprint serves static/
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]

    store = store or Store.connect(settings.mongo_uri, settings.mongo_db)
    if store.embedded:
        log.warning("!" * 20 + " %s " + "!" * 20, EMBEDDED_BANNER)
    redis_client = redis_client or redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    source = source or CoinGeckoClient(settings)
    _warn_if_not_coingecko(settings)
    try:
        store.ensure_indexes()
    except Exception as exc:  # the store may come up later; reads answer 503 until then
        log.warning("could not create indexes yet: %s", exc)
    view = LatestView(store)
    ingestor = Ingestor(
        settings=settings, source=source, store=store, redis_client=redis_client, view=view
    )
    subscriber = Subscriber(
        redis_client=redis_client, channel=settings.redis_channel, ingestor=ingestor, view=view
    )
    metrics = Metrics(view, settings.coin_names)
    ingestor.listeners.append(metrics.observe_ingest)
    install_observability(app, metrics)
    app.extensions[EXTENSION] = Services(
        store=store, redis=redis_client, view=view, ingestor=ingestor, subscriber=subscriber
    )

    @app.before_request
    def limit_query_string() -> None:
        if len(request.query_string) > MAX_QUERY_BYTES:
            raise RequestURITooLarge()

    api = create_api(app)
    for blueprint in (bp, catalog.bp, status.bp, ask.bp, observability.bp, readiness_bp):
        api.register_blueprint(blueprint)
    install_actions(
        app,
        api,
        settings=settings,
        access_settings=access,
        database=store.db,
        redis_client=redis_client,
    )
    app.register_blueprint(dashboard_bp)
    register_error_handlers(app)
    return app


def _warn_if_not_coingecko(settings: Settings) -> None:
    host = urlparse(settings.coingecko_api_url).hostname or ""
    if not host.endswith("coingecko.com"):
        log.warning(
            "COINGECKO_API_URL points at %s, not CoinGecko: the data served may be SYNTHETIC", host
        )
