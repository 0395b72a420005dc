"""WSGI middleware that takes hostile request input off the app's hands before Flask sees it.

- A conditional date (`If-Modified-Since`, `If-Unmodified-Since`, a dated `If-Range`) that does
  not parse, or parses out of range, is dropped: RFC 9110 13.1.3 says to ignore it, and werkzeug
  would raise (an `OverflowError` for year 99999999999) in our views and its static files alike.
- The request body stream is wrapped: an error while reading it means the client sent a broken
  or incomplete body (a bad chunk size, a connection cut short), so it becomes a JSON 400, and a
  body that stops arriving (the server's read deadline, a `TimeoutError`) a JSON 408. A body
  with no Content-Length (chunked) is read up to one byte past the limit at its first read, so
  an oversized one is a 413 like a sized one, never silently cut to the limit.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, RequestTimeout
from werkzeug.http import parse_date

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DATE_HEADERS = ("HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE")
"""WSGI environ keys of the request headers that carry only an HTTP date."""

CONTENT_LENGTH = "CONTENT_LENGTH"
"""WSGI environ key of the Content-Length header (absent for a chunked body)."""

TRANSFER_ENCODING = "HTTP_TRANSFER_ENCODING"
"""WSGI environ key of the Transfer-Encoding header (a chunked body)."""

IF_RANGE = "HTTP_IF_RANGE"
"""If-Range holds an entity tag (quoted, maybe W/) or a date."""

MALFORMED_BODY = "malformed or incomplete request body"
BODY_TIMEOUT = "request body not received in time"


class MalformedBody(BadRequest):
    """Reading the body failed: bad framing or a connection cut short."""

    description = MALFORMED_BODY


class BodyTimeout(RequestTimeout):
    """The body did not arrive within the server's read deadline."""

    description = BODY_TIMEOUT


def parse_http_date(value: str) -> datetime | None:
    """Parse an HTTP date; None when it is garbage or out of range (to be ignored)."""
    try:
        parsed = parse_date(value)
        if parsed is not None:
            parsed.timestamp()  # out-of-range dates fail here on some platforms
        return parsed
    except (OverflowError, ValueError, OSError):
        return None


def usable_date(value: str) -> bool:
    """Whether an HTTP date header parses to a real date (not garbage, not out of range)."""
    return parse_http_date(value) is not None


def drop_unusable_dates(environ: dict[str, Any]) -> None:
    """Remove conditional date headers that a parser would choke on or misread."""
    for key in DATE_HEADERS:
        value = environ.get(key)
        if value is not None and not usable_date(value):
            del environ[key]
    if_range = environ.get(IF_RANGE)
    if if_range is not None:
        is_etag = if_range.strip().startswith(('"', "W/"))
        if not is_etag and not usable_date(if_range):
            del environ[IF_RANGE]


class GuardedBody(io.RawIOBase):
    """The request body, with read errors turned into JSON-rendered HTTP errors."""

    def __init__(self, stream: Any, *, max_bytes: int | None) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.buffered: io.BytesIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        """Fill buffer from the body, bounded by max_bytes when the body has no length."""
        if self.max_bytes is not None and self.buffered is None:
            self.buffered = io.BytesIO(self._read_bounded(self.max_bytes))
        if self.buffered is not None:
            return self.buffered.readinto(buffer)
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read_bounded(self, limit: int) -> bytes:
        parts, size = [], 0
        while size <= limit:
            data = self._read(limit + 1 - size)
            if not data:
                break
            parts.append(data)
            size += len(data)
        if size > limit:
            raise RequestEntityTooLarge()
        return b"".join(parts)

    def _read(self, size: int) -> bytes:
        try:
            data: bytes = self.stream.read(size)
        except TimeoutError:
            raise BodyTimeout() from None
        except Exception:
            raise MalformedBody() from None
        return data


class RequestGuard:
    """Wraps a WSGI app; see the module docstring."""

    def __init__(self, app: WSGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        drop_unusable_dates(environ)
        stream = environ.get("wsgi.input")
        sized = bool(environ.get(CONTENT_LENGTH))
        if stream is not None and (sized or TRANSFER_ENCODING in environ):
            # A body of known length is bounded by it (and by Flask's MAX_CONTENT_LENGTH).
            limit = None if sized else self.max_body_bytes
            environ["wsgi.input"] = io.BufferedReader(GuardedBody(stream, max_bytes=limit))
        return self.app(environ, start_response)
