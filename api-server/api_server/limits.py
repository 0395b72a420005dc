"""Rate limits per client with Flask-Limiter, counted in Redis so every process shares them.

Two limiters share the app's Redis connection pool:

- writes (the action blueprints' POST/PUT/DELETE, and POST /api/ask): RATE_LIMIT_WRITES /
  RATE_LIMIT_ASK; when Redis cannot count, the request fails closed with a JSON 503;
- reads: RATE_LIMIT_READS (unset by default: no limit, so no Redis round trip on a read);
  when Redis cannot count, the read is served anyway.

/health, /ready and /metrics are never limited. A client is its key, or its address when
anonymous (request.remote_addr: the real client behind a trusted proxy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis
from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from api_server.access_config import AccessSettings
from api_server.auth import client_identity
from api_server.handlers import json_error

log = logging.getLogger(__name__)

WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]

WRITE_BLUEPRINTS = ("refresh", "keys", "watchlist", "alerts")
"""Blueprints whose writes RATE_LIMIT_WRITES limits."""

ASK_BLUEPRINT = "ask"

NEVER_LIMITED = frozenset({"api.health", "readiness.ready", "metrics.metrics_text"})
"""Endpoints no limit ever applies to (probes and scrapes)."""

KEY_PREFIX = "cryptostats-limits"


class ScopedLimiter(Limiter):
    """A Limiter that skips requests outside its scope before any of its own work.

    Flask-Limiter resolves limits, exemptions and meta limits on every request it sees; most
    requests (reads) can never be limited by the write limiter, so they skip all of it.
    """

    def __init__(self, key_func: Callable[[], str], *, applies: Callable[[], bool], **kw: Any):
        super().__init__(key_func, **kw)
        self.applies = applies

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and not self.applies():
            return
        super()._check_request_limit(callable_name, in_middleware)


@dataclass
class Limiters:
    """The write (fail-closed) and read (fail-open) limiters of an app."""

    writes: Limiter
    reads: Limiter | None


def install_limits(app: Flask, settings: AccessSettings, redis_client: redis.Redis) -> Limiters:
    """Limit the app's writes and (when configured) reads, counting in Redis."""

    @app.after_request  # registered first, so it runs after the limiters' own header hooks
    def retry_after_only_when_refused(response: Response) -> Response:
        limited = request.method in WRITE_METHODS or bool(settings.rate_limit_reads)
        if limited and response.status_code < 400 and "Retry-After" in response.headers:
            del response.headers["Retry-After"]
        return response

    storage = {
        "storage_uri": "redis://",  # the connection pool below says where
        "storage_options": {"connection_pool": redis_client.connection_pool},
    }
    writes = ScopedLimiter(
        client_identity,
        applies=lambda: request.method in WRITE_METHODS,
        key_prefix=KEY_PREFIX,
        headers_enabled=True,
        swallow_errors=False,
        strategy="fixed-window",
        **storage,  # type: ignore[arg-type]
    )
    writes.init_app(app)
    if settings.rate_limit_writes:
        for name in WRITE_BLUEPRINTS:
            writes.limit(settings.rate_limit_writes, methods=WRITE_METHODS)(_blueprint(app, name))
    if settings.rate_limit_ask:
        writes.limit(settings.rate_limit_ask, methods=["POST"])(_blueprint(app, ASK_BLUEPRINT))

    reads = None
    if settings.rate_limit_reads:  # else no hook at all on reads
        reads = ScopedLimiter(
            client_identity,
            applies=lambda: (
                request.method in ("GET", "HEAD") and request.endpoint not in NEVER_LIMITED
            ),
            key_prefix=KEY_PREFIX,
            headers_enabled=True,
            swallow_errors=True,
            default_limits=[settings.rate_limit_reads],
            strategy="fixed-window",
            **storage,  # type: ignore[arg-type]
        )
        reads.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Response:
        return json_error(429, {"error": f"rate limit exceeded: {exc.description}"})

    @app.errorhandler(redis.RedisError)
    def counts_unavailable(exc: redis.RedisError) -> Response:
        log.warning("refused a write: Redis cannot count rate limits (%s)", type(exc).__name__)
        return json_error(
            503, {"error": f"rate limits unavailable (Redis: {type(exc).__name__}); try later"}
        )

    return Limiters(writes=writes, reads=reads)


def _blueprint(app: Flask, name: str) -> Blueprint:
    return cast(Blueprint, app.blueprints[name])
