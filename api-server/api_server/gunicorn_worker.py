"""gunicorn's threaded worker, with JSON instead of HTML for requests gunicorn rejects itself.

gunicorn answers a request it cannot parse (a raw control byte or space in the request line, a
lowercase method, a bad header, headers over its size limits...) before the app sees it, through
`gunicorn.util.write_error`, which writes an HTML page. gunicorn has no setting for that page, so
this worker class swaps in a writer with the API's error shape, in the worker process only.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

MESSAGES = {
    400: "malformed HTTP request",
    403: "forbidden",
    414: "request URI too long",
    417: "expectation failed",
    431: "request header fields too large",
    500: "internal server error",
    501: "transfer coding not supported",
}
"""The `error` text of each status gunicorn may answer on its own."""


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
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorThreadWorker(ThreadWorker):  # type: ignore[misc]
    """The gthread worker; errors it writes itself are JSON."""

    def init_process(self, *args: Any, **kwargs: Any) -> None:
        util.write_error = write_json_error
        super().init_process(*args, **kwargs)
