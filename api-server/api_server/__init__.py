"""The cryptostats API: the composition root, where the app and its collaborators are wired.

`create_app()` builds everything and starts nothing; `start(app)` completes the OpenAPI document and
starts the background threads (the subscriber and the read model's listener), once per serving
process after fork.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from urllib.parse import urlparse

import redis
from flask import Flask, request
from werkzeug.exceptions import RequestURITooLarge

from api_server import admin, ask, contract, market, observability, readiness, status
from api_server.access_config import AccessSettings
from api_server.actions import install_actions
from api_server.alert_wiring import install_alerts
from api_server.app_state import AppState, attach, state_of
from api_server.backfill import BackfillClaim, Backfiller, ChartSource
from api_server.backfill_job import BackfillJob
from api_server.buckets import MemoryBuckets, open_buckets
from api_server.claim import IngestClaim, RedisClaim
from api_server.coingecko import CoinGeckoClient, FetchBudget
from api_server.dashboard import bp as dashboard_bp
from api_server.docs import create_api, document_api
from api_server.forwarded import trust_proxies
from api_server.handlers import register_error_handlers
from api_server.history import History
from api_server.ingest import BackfillSink, Ingestor, MarketSource
from api_server.listener import POLL_SECONDS
from api_server.market_chart import MarketChartClient
from api_server.metrics import Metrics
from api_server.observability import install_observability
from api_server.pacing import CallSpacer
from api_server.read_model import ReadModel, ReadModelListener
from api_server.rebuild import rebuild_missing
from api_server.redis_keys import backfill_claim_key
from api_server.request_guard import RequestGuard
from api_server.store import Store
from api_server.subscriber import Subscriber
from cryptostats.config import Settings

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 4096
"""Longest query string accepted; longer ones get a JSON 414."""

MAX_BODY_BYTES = 4096
"""Largest request body accepted; larger ones get a JSON 413."""

LEASE_MARGIN_SECONDS = 30.0
"""Added to the fetch budget: how long a crashed ingest's claim can block the others."""

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
    claim: IngestClaim | None = None,
    poll_seconds: float | None = None,
    charts: ChartSource | None = None,
    access: AccessSettings | None = None,
) -> Flask:
    """Build the app; collaborators default to real clients made from settings.

    Nothing starts here: `start(app)` starts the background threads (after fork under gunicorn).
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)  # the dashboard blueprint serves static/
    app.url_map.merge_slashes = False  # "//" is a JSON 404, not a redirect built from Host
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    trust_proxies(app, settings.trusted_proxies)

    store = store or Store.connect(settings.mongo_uri, settings.mongo_db)
    if store.embedded:
        log.warning("!" * 20 + " %s " + "!" * 20, EMBEDDED_BANNER)
    redis_client = redis_client or redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    source = source or CoinGeckoClient(settings)
    _warn_if_not_coingecko(settings)
    try:
        store.ensure_indexes(settings.history_retention_days)
    except Exception as exc:  # the store may come up later; reads answer 503 until then
        log.warning("could not create indexes yet: %s", exc)
    state = build_state(
        settings,
        store=store,
        redis_client=redis_client,
        source=source,
        claim=claim,
        poll_seconds=POLL_SECONDS if poll_seconds is None else poll_seconds,
        charts=charts or MarketChartClient(settings),
    )
    attach(app, state)
    metrics = Metrics(state.read_model, settings.coin_names)
    state.ingestor.listeners.append(metrics.observe_ingest)
    state.backfill.listeners.append(lambda r: metrics.observe_backfill(r.outcome, r.total_points))
    install_observability(app, metrics)

    @app.before_request
    def limit_query_string() -> None:
        if len(request.query_string) > MAX_QUERY_BYTES:
            raise RequestURITooLarge()

    api = create_api(app)
    for blueprint in (contract.bp, market.bp, status.bp, ask.bp, observability.bp, readiness.bp):
        api.register_blueprint(blueprint)
    install_actions(
        app,
        api,
        settings=settings,
        access_settings=access,
        database=store.db,
        redis_client=redis_client,
    )
    install_alerts(app, store.db, metrics)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(admin.bp)
    register_error_handlers(app)
    app.wsgi_app = RequestGuard(app.wsgi_app, max_body_bytes=MAX_BODY_BYTES)  # type: ignore[method-assign]
    return app


def build_state(
    settings: Settings,
    *,
    store: Store,
    redis_client: redis.Redis,
    source: MarketSource,
    claim: IngestClaim | None,
    poll_seconds: float,
    charts: ChartSource,
) -> AppState:
    """Wire the write path (subscriber -> ingestor) and the read side (read model, history)."""
    origin = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claim = claim or RedisClaim(
        redis_client,
        settings.redis_channel,
        window_seconds=settings.ingest_claim_seconds,
        lease_seconds=FetchBudget.for_interval(settings.update_interval_seconds).total
        + LEASE_MARGIN_SECONDS,
    )
    buckets = open_buckets(store.db, embedded=store.embedded)
    try:
        buckets.ensure_indexes()
    except Exception as exc:  # the store may come up later
        log.warning("could not create bucket indexes yet: %s", exc)
    ingestor = Ingestor(
        settings=settings,
        source=source,
        store=store,
        claim=claim,
        redis_client=redis_client,
        origin=origin,
        buckets=buckets,
    )
    backfill = BackfillJob(
        backfiller=Backfiller(
            coins=settings.coins,
            days=settings.backfill_days,
            charts=charts,
            history=ingestor.history,
            buckets=BackfillSink(ingestor),
            spacer=CallSpacer.for_backfill(settings),
        ),
        claim=BackfillClaim(redis_client, backfill_claim_key(settings.redis_channel), origin),
        ingest_log=store,
        listeners=[lambda report: ingestor.recent.appendleft(report.as_ingest())],
        prepare=None
        if isinstance(buckets, MemoryBuckets)
        else lambda: rebuild_missing(store.db, buckets, settings.coin_names),
    )
    read_model = ReadModel(store)
    return AppState(
        settings=settings,
        store=store,
        redis=redis_client,
        read_model=read_model,
        history=History(buckets),
        ingestor=ingestor,
        backfill=backfill,
        subscriber=Subscriber(
            redis_client=redis_client,
            settings=settings,
            ingestor=ingestor,
            replicate=store.embedded,
            poll_seconds=poll_seconds,
        ),
        read_model_listener=ReadModelListener(
            read_model,
            redis_client=redis_client,
            channel=settings.redis_channel,
            poll_seconds=poll_seconds,
        ),
    )


def start(app: Flask) -> None:
    """Complete the OpenAPI document, start the background threads (once per serving process)."""
    document_api(app)
    state_of(app).start()


def stop(app: Flask) -> None:
    """Stop the app's background threads."""
    state_of(app).stop()


def _warn_if_not_coingecko(settings: Settings) -> None:
    host = urlparse(settings.coingecko_api_url).hostname or ""
    if not host.endswith("coingecko.com"):
        log.warning(
            "COINGECKO_API_URL points at %s, not CoinGecko: the data served may be SYNTHETIC", host
        )
