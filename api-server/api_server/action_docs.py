"""OpenAPI pieces shared by the action endpoints: the bearer scheme, schemas, error responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask_smorest
import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import fields

from api_server.docs import REQUEST_ID_PARAM, header_refs
from api_server.schemas import ErrorSchema

BEARER_SCHEME = "bearer"
"""The name of the security scheme in the OpenAPI document."""

KEY_REQUIRED: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
"""Security of an operation that always needs a key."""

KEY_OR_LOCAL: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}, {}]
"""Security of a write that anonymous callers may make where ANONYMOUS_WRITES allows."""

RATE_LIMIT_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Unix time the window resets",
        "schema": {"type": "integer"},
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}

STANDARD_ERRORS = {
    401: "no key, or a malformed, unknown or revoked one",
    403: "a valid key without the right to this action (a user key on an admin route)",
    429: "too many requests from this client (RATE_LIMIT_*): wait `Retry-After` seconds",
    503: "data store or Redis (rate-limit counts) unavailable: writes fail closed",
}

ASK_429 = "too many questions from this client (RATE_LIMIT_ASK): wait `Retry-After` seconds"


def register_bearer(api: flask_smorest.Api) -> None:
    """Declare the bearer scheme: `Authorization: Bearer <key>`."""
    api.spec.components.security_scheme(
        BEARER_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from POST /api/keys, or the bootstrap ADMIN_API_KEY",
        },
    )


def operation(
    bp: Blueprint,
    *,
    security: list[dict[str, list[str]]] | None,
    success: tuple[int, type[ma.Schema] | ma.Schema | None, str],
    errors: dict[int, str],
    body: type[ma.Schema] | None = None,
    parameters: list[Any] | None = None,
    limited: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document an action: its security, its success and every error it can answer."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        doc: dict[str, Any] = {"parameters": [*(parameters or []), REQUEST_ID_PARAM]}
        if security is not None:
            doc["security"] = security
        if body is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        view = bp.doc(**doc)(view)
        status, schema, what = success
        view = bp.alt_response(
            status, schema=schema, description=what, headers=_headers(status, limited), success=True
        )(view)
        for code, why in errors.items():
            view = bp.alt_response(
                code, schema=ErrorSchema, description=why, headers=_headers(code, limited)
            )(view)
        return view

    return decorate


def _headers(status: int, limited: bool) -> dict[str, Any]:
    headers = dict(header_refs("X-Request-ID"))
    if limited:
        headers.update(RATE_LIMIT_HEADERS)
    if status == 429:
        headers.update(RETRY_AFTER)
    return headers


class KeyCreateSchema(ma.Schema):
    """A new key's name, and optionally its role."""

    class Meta:
        unknown = ma.EXCLUDE

    name = fields.String(required=True, metadata={"example": "alice's laptop"})
    role = fields.String(metadata={"description": "`user` (default) or `admin`"})


class KeySchema(ma.Schema):
    """A key as listed (never the key itself)."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    createdAt = fields.String(required=True, metadata={"description": "ISO 8601 UTC"})


class NewKeySchema(KeySchema):
    """A created key: the only answer that carries it."""

    key = fields.String(required=True, metadata={"description": "Shown once; store it now"})


class KeyListSchema(ma.Schema):
    """Every live key."""

    keys = fields.List(fields.Nested(KeySchema), required=True)


class RefreshSchema(ma.Schema):
    """A manual refresh was published."""

    status = fields.String(required=True, metadata={"example": "triggered"})
    receivers = fields.Integer(required=True, metadata={"description": "API processes told"})


class RefreshStateSchema(ma.Schema):
    """When the next manual refresh is allowed."""

    minSeconds = fields.Integer(required=True, metadata={"description": "REFRESH_MIN_SECONDS"})
    retryAfterSeconds = fields.Integer(
        required=True, metadata={"description": "0 when a refresh is allowed now"}
    )
    nextAllowedAt = fields.String(required=True, allow_none=True)
    anonymousAllowed = fields.Boolean(
        required=True, metadata={"description": "Whether this caller may refresh without a key"}
    )


class WatchlistSchema(ma.Schema):
    """The caller's favourite coins, in the order they were added."""

    coins = fields.List(fields.String(), required=True)
