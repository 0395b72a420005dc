"""Who is calling, and what they may do: bearer keys and the default write policy.

A request's caller is anonymous (no Authorization header), a user key, or an admin key (the
bootstrap ADMIN_API_KEY, or a key created with role admin). A header that is present but is not
`Bearer <key>`, or names an unknown or revoked key, is a 401 wherever a key is read; reads that
need no key never read it. Anonymous writes follow ANONYMOUS_WRITES: `local` (the default) allows
them from the loopback address only, `none` never, `any` from anywhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from flask import g, request

from api_server.access import access
from api_server.errors import ApiError
from api_server.keys import same_token

BEARER = re.compile(r"^Bearer +([A-Za-z0-9._~+/-]{1,256}=*) *$", re.IGNORECASE)
"""An Authorization header carrying a key (RFC 6750 b64token)."""

ADMIN_ID = "admin"
"""The id of the bootstrap admin key (ADMIN_API_KEY), which is not stored."""


class Unauthorized(ApiError):
    """No key, or a malformed, unknown or revoked one, where a key is required (401)."""

    status = 401


class Forbidden(ApiError):
    """A valid key without the right to this action (403)."""

    status = 403


@dataclass(frozen=True)
class Caller:
    """Who sent the request."""

    role: str
    """`anonymous`, `user` or `admin`."""
    key_id: str | None = None

    @property
    def anonymous(self) -> bool:
        """Whether the request carried no key."""
        return self.role == "anonymous"


ANONYMOUS = Caller("anonymous")


def current_caller() -> Caller:
    """Return the caller of this request (cached), or raise Unauthorized for a bad key."""
    found: Caller | None = g.get("caller")
    if found is None:
        found = _identify(request.headers.get("Authorization"))
        g.caller = found
    return found


def _identify(header: str | None) -> Caller:
    if header is None:
        return ANONYMOUS
    match = BEARER.match(header)
    if match is None:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    token = match.group(1)
    found = access()
    admin_key = found.settings.admin_api_key
    if admin_key and same_token(token, admin_key):
        return Caller("admin", ADMIN_ID)
    key = found.keys.find(token)
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    return Caller(key.role, key.id)


def require_key() -> Caller:
    """Return the caller's key, or raise 401 when there is none."""
    caller = current_caller()
    if caller.anonymous:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    return caller


def require_admin() -> Caller:
    """Return the caller when it holds an admin key: 401 without a key, 403 with a user key."""
    caller = require_key()
    if caller.role != "admin":
        raise Forbidden("this action needs an admin key")
    return caller


def require_writer() -> Caller:
    """Return the caller when it may write: any valid key, or anonymous where the policy allows."""
    caller = current_caller()
    if caller.anonymous and not anonymous_writes_allowed(request.remote_addr):
        raise Unauthorized(
            "an API key is required for this action from a remote address "
            "(anonymous writes are allowed from the local machine only; see ANONYMOUS_WRITES)"
            if access().settings.anonymous_writes == "local"
            else "an API key is required for this action (ANONYMOUS_WRITES=none)"
        )
    return caller


def anonymous_writes_allowed(address: str | None) -> bool:
    """Whether the write policy lets a request from this address write without a key."""
    policy = access().settings.anonymous_writes
    if policy == "any":
        return True
    return policy == "local" and is_loopback(address)


def is_loopback(address: str | None) -> bool:
    """Whether an address is the local machine (127.0.0.0/8, ::1, or ::ffff:127.x)."""
    if not address:
        return False
    try:
        ip: Any = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def client_identity() -> str:
    """Return what rate limits count by: the key, or the address for anonymous callers."""
    try:
        caller = current_caller()
    except ApiError:  # a bad key is refused later by the endpoint; count it by address
        caller = ANONYMOUS
    if caller.key_id is not None:
        return f"key:{caller.key_id}"
    return f"addr:{request.remote_addr or 'unknown'}"
