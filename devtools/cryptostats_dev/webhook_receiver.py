"""A small threaded webhook receiver on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST the receiver answered."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers `status` after `delay` seconds (set both at will) and keeps every request."""

    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    server: Any = None
    arrived: threading.Event = field(default_factory=threading.Event)
    began: threading.Event = field(default_factory=threading.Event)
    """Set when a POST starts (before the delay)."""

    def start(self, port: int = 0) -> WebhookReceiver:
        """Listen on 127.0.0.1 (a free port unless given) in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.began.set()
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                receiver.received.append(Received(self.path, dict(self.headers), body))
                receiver.arrived.set()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        # A short poll so stop() returns in ~10 ms, not serve_forever's default 0.5 s.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    @property
    def url(self) -> str:
        """The URL to give an alert's webhook."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
