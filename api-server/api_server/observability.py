"""Request ids, one JSON access log line per request, request metrics, and GET /metrics.

X-Request-ID: the client's value when it is 1-128 characters of letters, digits, '.', '_' or
'-', else a new random one. It is set in the log context for the whole request, so every log
line of the request carries it, and returned on every response, errors included.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request
from flask_smorest import Blueprint

from api_server.docs import REQUEST_ID_PARAM, header_refs
from api_server.metrics import UNMATCHED, Metrics
from cryptostats.logs import log_context

access_log = logging.getLogger("api_server.access")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"
"""WSGI environ key of the X-Request-ID request header."""

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}\Z")
"""Which client-sent request ids are kept (anything else could forge or garble log lines)."""

EXTENSION = "cryptostats.metrics"

OTHER_METHOD = "other"
"""The method label of a request whose method no route of the app accepts."""

bp = Blueprint("metrics", __name__, description="Prometheus metrics")


def request_id_from(value: str | None) -> str:
    """Return the client's request id when valid, else a new one."""
    if value is not None and VALID_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def install_observability(app: Flask, metrics: Metrics) -> None:
    """Give every request an id, a log context, an access log line and its metrics."""
    app.extensions[EXTENSION] = metrics
    routed: frozenset[str] | None = None  # known once every route is registered

    def method_label(method: str) -> str:
        # Label values come from a closed set, or any client could create series at will.
        nonlocal routed
        if routed is None:
            routed = frozenset(m for rule in app.url_map.iter_rules() for m in rule.methods or ())
        return method if method in routed else OTHER_METHOD

    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id_from(request.environ.get(REQUEST_ID_ENVIRON))
        g.log_token = log_context.set({"request_id": g.request_id})

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or request_id_from(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        rule = request.url_rule
        metrics.observe_request(
            rule.rule if rule is not None else UNMATCHED,
            method_label(request.method),
            response.status_code,
            seconds,
        )
        duration_ms = round(seconds * 1000, 3)
        access_log.info(
            "%s %s %s %d %.1f ms",
            request.remote_addr,
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "event": "request",
                "client": request.remote_addr,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "request_id": request_id,
            },
        )
        return response

    @app.teardown_request
    def end_request(exc: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            log_context.reset(token)


@bp.route("/metrics", methods=["GET"])
@bp.doc(parameters=[REQUEST_ID_PARAM])
@bp.alt_response(
    200,
    description="Prometheus text exposition format (version 0.0.4), summed over every API process",
    content_type="text/plain",
    headers=header_refs("X-Request-ID"),
    success=True,
)
def metrics_text() -> Response:
    """Return the Prometheus metrics of every API process.

    cryptostats_http_requests_total{endpoint,method,status} (method: one the app routes, else
    `other`),
    cryptostats_http_request_duration_seconds{endpoint,status} (histogram),
    cryptostats_ingests_total{outcome}, cryptostats_upstream_calls_total,
    cryptostats_upstream_errors_total{kind}, cryptostats_data_age_seconds{coin}.
    """
    body, content_type = current_app.extensions[EXTENSION].render()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
