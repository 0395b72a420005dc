"""HTTP caching for the read endpoints: ETag, Last-Modified, Cache-Control and 304s.

The validators of /api/stats and /api/deviation are computed once per ingest (read_model.CoinView);
a request only compares strings, so these endpoints stay as cheap as a constant answer.
"""

from __future__ import annotations

import time
from datetime import datetime

from flask import Response, request
from werkzeug.http import http_date

from api_server.app_state import app_state
from api_server.read_model import entity_tag
from api_server.request_guard import parse_http_date

IF_NONE_MATCH = "HTTP_IF_NONE_MATCH"
IF_MODIFIED_SINCE = "HTTP_IF_MODIFIED_SINCE"
"""WSGI environ keys of the conditional request headers (read directly: the fast path)."""


def max_age(updated_ts: float | None) -> int:
    """Return the seconds until the next expected update after data stored at updated_ts."""
    if updated_ts is None:
        return 0
    interval = app_state().settings.update_interval_seconds
    return max(0, int(updated_ts + interval - time.time()))


def cached_json(
    body: bytes, *, etag: str, last_modified: str, last_modified_ts: int, updated_ts: float | None
) -> Response:
    """Answer a JSON body with its validators, or 304 when the client's copy is current."""
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": f"public, max-age={max_age(updated_ts)}",
    }
    if not_modified(etag, last_modified_ts):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


def cached_body(
    body: bytes, *, last_modified: datetime | None, updated_ts: float | None
) -> Response:
    """Like cached_json for a body rendered on request: its ETag is hashed now."""
    if last_modified is None:
        return Response(
            body, mimetype="application/json", headers={"Cache-Control": "public, max-age=0"}
        )
    return cached_json(
        body,
        etag=entity_tag(body),
        last_modified=http_date(last_modified),
        last_modified_ts=int(last_modified.timestamp()),
        updated_ts=updated_ts,
    )


def not_modified(etag: str, last_modified_ts: int) -> bool:
    """Apply If-None-Match (which wins when present) or If-Modified-Since (RFC 9110 13.2.2)."""
    environ = request.environ
    if_none_match = environ.get(IF_NONE_MATCH)
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if_modified_since = environ.get(IF_MODIFIED_SINCE)
    if if_modified_since is None:
        return False
    since = parse_http_date(if_modified_since)  # garbage or out of range: ignored
    return since is not None and last_modified_ts <= since.timestamp()


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of an If-None-Match header against our (strong) ETag."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
