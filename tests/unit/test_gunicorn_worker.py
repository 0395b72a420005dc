"""Errors gunicorn writes itself come out as JSON."""

from __future__ import annotations

import ast
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.parser import RequestParser

from api_server import gunicorn_worker
from api_server.gunicorn_worker import (
    DeadlineRequestParser,
    DeadlineUnreader,
    QuietResponse,
    RequestHeadTimeout,
    RequestReadTimeout,
    write_json_error,
)

BAD = "malformed HTTP request: "


@pytest.mark.parametrize(
    ("status", "reason", "mesg", "error"),
    [
        (
            400,
            "Bad Request",
            "Invalid Request Line 'GET /\x00 HTTP/1.1'",
            BAD + "invalid request line",
        ),
        (400, "Bad Request", "Invalid HTTP Header: 'Bad'", BAD + "invalid http header"),
        (431, "Too Large", "Error parsing headers", "request header fields too large"),
        (500, "Internal Server Error", "", "internal server error"),
    ],
)
def test_error_is_a_complete_json_response(status: int, reason: str, mesg: str, error: str) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        write_json_error(ours, status, reason, mesg)
        ours.shutdown(socket.SHUT_WR)
        raw = theirs.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"error": error}
    assert b"\x00" not in body


def test_gunicorn_errors_carry_the_security_headers() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        write_json_error(ours, 414, "URI Too Long", "Request Line is too large (9000 > 8190)")
        ours.shutdown(socket.SHUT_WR)
        head, _, body = theirs.recv(65536).partition(b"\r\n\r\n")
    assert json.loads(body) == {"error": "request URI too long"}
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    for name in ("Permissions-Policy", "Cross-Origin-Opener-Policy", "X-Content-Type-Options"):
        assert name in headers
    assert "Server" not in headers


def test_responses_carry_no_server_banner() -> None:
    cfg = Config()
    request = SimpleNamespace(version=(1, 1), should_close=lambda: False, method="GET")

    def default_headers(response_class: type[wsgi.Response]) -> list[str]:
        response = response_class(request, None, cfg)
        response.start_response("200 OK", [("Content-Length", "2")])
        lines: list[str] = response.default_headers()
        return lines

    lines = default_headers(QuietResponse)
    assert lines[0] == "HTTP/1.1 200 OK\r\n"
    assert not any(line.lower().startswith("server:") for line in lines)
    assert "Server: gunicorn\r\n" in default_headers(wsgi.Response)  # what it replaces


def test_the_request_line_is_bounded_at_gunicorns_maximum() -> None:
    cfg = Config()
    cfg.set("limit_request_line", gunicorn_conf_value("limit_request_line"))
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"GET /?" + b"a" * 8200)  # no end of line yet: still arriving
        ours.settimeout(2)  # unbounded, gunicorn would wait for the rest of the line
        parser = RequestParser(cfg, ours, ("127.0.0.1", 1))
        with pytest.raises(LimitRequestLine):
            next(parser)


def gunicorn_conf_value(name: str) -> object:
    """Read a setting from gunicorn_conf.py without running it (it configures the process)."""
    source = Path(gunicorn_worker.__file__).with_name("gunicorn_conf.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not set in gunicorn_conf.py")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def deadline_parser(sock: socket.socket, clock: Clock) -> DeadlineRequestParser:
    return DeadlineRequestParser(Config(), sock, ("127.0.0.1", 1), seconds=15, clock=clock)


def test_a_head_arriving_after_the_deadline_is_a_head_timeout() -> None:
    clock = Clock()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
        parser = deadline_parser(ours, clock)

        def late_recv(*args: object) -> bytes:
            clock.now += 16  # the next read would start past the deadline
            return real_recv(*args)

        real_recv, parser.unreader.sock = (
            ours.recv,
            SimpleNamespace(recv=late_recv, gettimeout=ours.gettimeout, settimeout=ours.settimeout),
        )
        with pytest.raises(RequestHeadTimeout):
            next(parser)


def test_a_body_read_past_the_deadline_raises_a_timeout_error() -> None:
    clock = Clock()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        request = next(deadline_parser(ours, clock))
        clock.now += 15
        with pytest.raises(TimeoutError):  # the app answers it with a JSON 408
            request.body.read(100)


def test_each_read_waits_no_longer_than_the_time_left() -> None:
    clock = Clock()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        waits: list[float | None] = []
        unreader = DeadlineUnreader(ours, seconds=15, clock=clock)
        real_settimeout = ours.settimeout
        unreader.sock = SimpleNamespace(
            recv=ours.recv,
            gettimeout=ours.gettimeout,
            settimeout=lambda value: (waits.append(value), real_settimeout(value)),
        )
        unreader.start_request()
        clock.now += 10
        theirs.sendall(b"x")
        assert unreader.chunk() == b"x"
        assert waits == [5.0, None]  # bounded by the deadline, then back to blocking
        clock.now += 5
        with pytest.raises(RequestReadTimeout):
            unreader.chunk()
