"""Errors gunicorn writes itself come out as JSON."""

from __future__ import annotations

import json
import socket

import pytest

from api_server.gunicorn_worker import write_json_error

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
