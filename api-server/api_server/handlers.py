"""One JSON error shape for every failure: {"error": message, ...}. Never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from api_server.errors import ApiError, StoreUnavailable
from api_server.request_guard import BodyTimeout, MalformedBody

log = logging.getLogger(__name__)


def json_error(status: int, body: dict[str, object]) -> Response:
    """Return a JSON error response."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def register_error_handlers(app: Flask) -> None:
    """Render every error the app can raise as JSON."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return json_error(exc.status, exc.to_dict())

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> Response:
        return json_error(503, {"error": exc.message})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        response = json_error(status, {"error": _message(exc)})
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return json_error(500, {"error": "internal server error"})


def _message(exc: HTTPException) -> str:
    if isinstance(exc, MalformedBody | BodyTimeout):
        return str(exc.description)
    names = {
        404: "not found",
        405: "method not allowed",
        413: "request body too large",
        414: "request URI too long",
    }
    return names.get(exc.code or 0, (exc.name or "error").lower())
