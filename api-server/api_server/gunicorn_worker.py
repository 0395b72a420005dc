"""gunicorn's threaded worker, hardened: JSON errors, a read deadline, no `Server` banner.

- gunicorn answers a request it cannot parse (a raw control byte or space in the request line, a
  lowercase method, a bad header, a request line or headers over its size limits...) before the
  app sees it, through `gunicorn.util.write_error`, which writes an HTML page. gunicorn has no
  setting for that page, so this worker swaps in a writer with the API's error shape and headers.
- A request's head and body must arrive within `REQUEST_READ_SECONDS` of its first byte. gunicorn
  reads a `Content-Length` body, or a chunked one, without a limit of its own: a client that
  announces more than it sends held a thread. Past the deadline a head gets a JSON 408 here; a
  body read by the app raises a `TimeoutError`, which the app answers with a JSON 408.
- gunicorn writes `Server: gunicorn` on every response, again with no setting: the response
  class it uses is replaced by one without that line.

The swaps are made in the worker process only, when it starts.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

from api_server.dashboard import JSON_CONTENT_SECURITY_POLICY, SECURITY_HEADERS

REQUEST_READ_SECONDS = 15.0
"""Longest a request's head and body may take to arrive (REQUEST_READ_TIMEOUT_SECONDS)."""

MESSAGES = {
    400: "malformed HTTP request",
    403: "forbidden",
    408: "request not received in time",
    414: "request URI too long",
    417: "expectation failed",
    431: "request header fields too large",
    500: "internal server error",
    501: "transfer coding not supported",
}
"""The `error` text of each status gunicorn may answer on its own."""

ERROR_HEADERS = {"Content-Security-Policy": JSON_CONTENT_SECURITY_POLICY, **SECURITY_HEADERS}
"""The app's security headers, on gunicorn's own error answers too."""


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Write a complete JSON error response and nothing of the rejected input."""
    message = MESSAGES.get(status_int, reason.lower())
    # gunicorn's text starts with what was wrong ("Invalid Request Line '...'"); keep only that.
    what = re.match(r"[A-Za-z ]+", mesg)
    if status_int == 400 and what and what.group().strip():
        message = f"{message}: {what.group().strip().lower()}"
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in ERROR_HEADERS.items())
        + "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class RequestReadTimeout(TimeoutError):
    """The request did not arrive within its deadline (raised into the app while it reads)."""


class RequestHeadTimeout(Exception):
    """The request's head did not arrive in time (not an OSError: gunicorn answers it via
    handle_error instead of logging a socket error)."""


class DeadlineUnreader(SocketUnreader):  # type: ignore[misc]
    """gunicorn's socket reader, with every read bounded by the current request's deadline."""

    def __init__(
        self, sock: socket.socket, *, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(sock)
        self.seconds = seconds
        self.clock = clock
        self.deadline: float | None = None

    def start_request(self) -> None:
        """Start the clock of a new request (its first byte has arrived or is due now)."""
        self.deadline = self.clock() + self.seconds

    def chunk(self, size_hint: int | None = None) -> bytes:
        """Read what the socket has, waiting no later than the deadline."""
        if self.deadline is None:
            data: bytes = super().chunk(size_hint)
            return data
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise RequestReadTimeout(f"request not received within {self.seconds:g} s")
        prior = self.sock.gettimeout()  # gunicorn's own, e.g. while draining an unread body
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            data = super().chunk(size_hint)
        except TimeoutError:
            if prior is not None and prior < remaining:
                raise
            raise RequestReadTimeout(f"request not received within {self.seconds:g} s") from None
        finally:
            self.sock.settimeout(prior)
        return data


class DeadlineRequestParser(RequestParser):  # type: ignore[misc]
    """gunicorn's HTTP/1 parser over a DeadlineUnreader; a late head is a RequestHeadTimeout."""

    def __init__(
        self,
        cfg: Any,
        sock: socket.socket,
        client: Any,
        *,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(cfg, sock, client)
        self.unreader = DeadlineUnreader(sock, seconds=seconds, clock=clock)

    def __next__(self) -> Any:
        self.unreader.start_request()
        try:
            return super().__next__()
        except RequestReadTimeout as exc:
            raise RequestHeadTimeout(str(exc)) from None


class QuietResponse(wsgi.Response):  # type: ignore[misc]
    """gunicorn's response, without the `Server: gunicorn` line."""

    def default_headers(self) -> list[str]:
        """Return gunicorn's status line and default headers, minus Server."""
        return [line for line in super().default_headers() if not line.startswith("Server:")]


class JsonErrorThreadWorker(ThreadWorker):  # type: ignore[misc]
    """The gthread worker: JSON errors, a request read deadline, no Server banner."""

    request_read_seconds = REQUEST_READ_SECONDS
    """Set from the settings by gunicorn_conf.post_fork."""

    def init_process(self, *args: Any, **kwargs: Any) -> None:
        util.write_error = write_json_error
        wsgi.Response = QuietResponse
        super().init_process(*args, **kwargs)

    def handle(self, conn: Any) -> Any:
        """Handle a connection, giving a new one the deadline parser first."""
        if conn.parser is None and self._plain_http1(conn):
            # TConn.init() keeps a parser it finds: this one bounds every read by a deadline.
            conn.parser = DeadlineRequestParser(
                self.cfg, conn.sock, conn.client, seconds=self.request_read_seconds
            )
        return super().handle(conn)

    def _plain_http1(self, conn: Any) -> bool:
        if self.cfg.is_ssl or getattr(self.cfg, "protocol", "http") != "http":
            return False
        return not negotiation.prior_knowledge_allowed(self.cfg, conn.client)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Answer a request head that came too late with a JSON 408; else as gunicorn does."""
        if isinstance(exc, RequestHeadTimeout):
            ip = addr[0] if addr else ""
            self.log.warning("Request head not received in time from ip=%s: %s", ip, exc)
            try:
                write_json_error(client, 408, "Request Timeout", "")
            except OSError:
                self.log.debug("Failed to send the 408.")
            return
        super().handle_error(req, client, addr, exc)
