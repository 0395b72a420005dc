"""Admin endpoints for API keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from flask_smorest import Blueprint

from api_server.access import access
from api_server.action_docs import (
    KEY_REQUIRED,
    STANDARD_ERRORS,
    KeyCreateSchema,
    KeyListSchema,
    NewKeySchema,
    operation,
)
from api_server.app_state import app_state
from api_server.auth import require_admin
from api_server.errors import InvalidRequest, NoData
from api_server.keys import ROLES

bp = Blueprint("keys", __name__, description="API keys (admin)")

MAX_NAME_CHARS = 100
"""Longest key name accepted."""

ADMIN_ERRORS = {
    401: STANDARD_ERRORS[401],
    403: "a user key: this route needs an admin key",
    503: "data store unavailable",
}


@bp.route("/api/keys", methods=["POST"])
@operation(
    bp,
    limited=True,
    security=KEY_REQUIRED,
    body=KeyCreateSchema,
    success=(201, NewKeySchema, "The new key; `key` is shown this once and never again"),
    errors={
        400: 'body not a JSON object with a "name" of 1-100 characters, or a bad "role"',
        **ADMIN_ERRORS,
        413: "body over 4 KiB",
        429: STANDARD_ERRORS[429],
    },
)
def create_key() -> Response:
    """Create an API key (role `user` unless `"role": "admin"`)."""
    require_admin()
    name, role = _new_key_body()
    key, token = access().keys.create(name, role)
    return _json({**key.to_dict(), "key": token}, status=201)


@bp.route("/api/keys", methods=["GET"])
@operation(
    bp,
    security=KEY_REQUIRED,
    success=(200, KeyListSchema, "Every live key (never the keys themselves)"),
    errors=ADMIN_ERRORS,
)
def list_keys() -> Response:
    """List the live API keys."""
    require_admin()
    return _json({"keys": [key.to_dict() for key in access().keys.list()]})


@bp.route("/api/keys/<key_id>", methods=["DELETE"])
@operation(
    bp,
    limited=True,
    security=KEY_REQUIRED,
    parameters=[
        {
            "in": "path",
            "name": "key_id",
            "required": True,
            "schema": {"type": "string"},
            "description": "The key's `id` (not the key)",
        }
    ],
    success=(204, None, "Revoked: every process refuses the key from now on"),
    errors={**ADMIN_ERRORS, 404: "no live key has this id", 429: STANDARD_ERRORS[429]},
)
def revoke_key(key_id: str) -> Response:
    """Revoke an API key at once, in every process and replica; drop its watchlist and alerts."""
    require_admin()
    found = access()
    if not found.keys.revoke(key_id):
        raise NoData(f"no API key with id {key_id[:40]!r}")
    found.watchlists.clear(key_id)
    alerts = app_state().alerts
    if alerts is not None:
        alerts.drop_owner(key_id)
    return Response(status=204)


def _new_key_body() -> tuple[str, str]:
    raw = request.get_data(cache=True)  # raises the JSON 413 when over MAX_CONTENT_LENGTH
    try:
        payload: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest('the body must be JSON: {"name": "..."}') from None
    if not isinstance(payload, dict):
        raise InvalidRequest('the body must be a JSON object with a "name"')
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f'"name" must be a non-empty string of at most {MAX_NAME_CHARS} chars')
    role = payload.get("role", "user")
    if role not in ROLES:
        raise InvalidRequest(f'"role" must be one of: {", ".join(ROLES)}')
    return name.strip(), str(role)


def _json(body: dict[str, Any], *, status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
