"""Hostile HTTP requests, sent as raw bytes to the served API: each must get a JSON 4xx."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from cryptostats_dev.fault_common import Outcome, expect
from cryptostats_dev.lab import Api, Lab


@dataclass(frozen=True)
class BadRequest:
    """One hostile request, sent as raw bytes so nothing normalises it."""

    name: str
    raw: bytes


def _get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


HOSTILE_REQUESTS = [
    BadRequest("coin missing", _get(b"/api/stats")),
    BadRequest("coin empty", _get(b"/api/stats?coin=")),
    BadRequest("coin whitespace", _get(b"/api/deviation?coin=%20%09%20")),
    BadRequest("coin 10,000 chars", _get(b"/api/stats?coin=" + b"a" * 10_000)),
    BadRequest("other param 10,000 chars", _get(b"/api/stats?coin=bitcoin&x=" + b"b" * 10_000)),
    BadRequest("query string 100 KB", _get(b"/api/stats?coin=" + b"%41" * 34_000)),
    BadRequest("unicode coin (percent-encoded)", _get(b"/api/stats?coin=%E2%82%BFitcoin")),
    BadRequest("unicode coin (raw UTF-8)", _get("/api/stats?coin=₿itcoin".encode())),
    BadRequest("control characters (encoded)", _get(b"/api/stats?coin=%01%1b%7f")),
    BadRequest("control characters (raw)", _get(b"/api/stats?coin=\x01\x1b")),
    BadRequest("null byte %00", _get(b"/api/stats?coin=bitcoin%00")),
    BadRequest("null byte raw", _get(b"/api/stats?coin=bit\x00coin")),
    BadRequest("coin[$ne]=x", _get(b"/api/stats?coin[$ne]=x")),
    BadRequest("coin[$ne]=x encoded", _get(b"/api/stats?coin%5B%24ne%5D=x")),
    BadRequest('coin={"$gt":""}', _get(b"/api/stats?coin=%7B%22%24gt%22%3A%22%22%7D")),
    BadRequest("coin repeated", _get(b"/api/stats?coin=bitcoin&coin=ethereum")),
    BadRequest("percent %zz", _get(b"/api/stats?coin=%zz")),
    BadRequest("lone percent", _get(b"/api/stats?coin=%")),
    BadRequest("overlong UTF-8 %c0%ae", _get(b"/api/stats?coin=%c0%ae%c0%ae")),
    BadRequest("invalid UTF-8 %ff", _get(b"/api/stats?coin=%ff")),
    BadRequest("raw space in target", _get(b"/api/stats?coin=bit coin")),
    BadRequest("path traversal", _get(b"/api/../../etc/passwd")),
    BadRequest("unknown path", _get(b"/api/nope")),
    BadRequest("POST", b"POST /api/stats HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"),
    BadRequest("DELETE", b"DELETE /api/deviation?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("unknown method", b"BREW /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("lowercase method", b"get /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\n\r\n"),
    BadRequest("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    BadRequest("HTTP/9.9", b"GET /api/stats?coin=bitcoin HTTP/9.9\r\nHost: x\r\n\r\n"),
    BadRequest("malformed header", b"GET /api/stats HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"),
    BadRequest("header 9 KB", b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"),
    BadRequest("bad Content-Length", b"GET /health HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
    BadRequest("body too large", b"POST /health HTTP/1.1\r\nContent-Length: 9000\r\n\r\n"),
    BadRequest("request line 9 KB (gunicorn's limit)", _get(b"/api/stats?coin=" + b"a" * 9000)),
    BadRequest("query string 5 KB (the app's limit)", _get(b"/api/stats?coin=" + b"a" * 5000)),
    BadRequest("// in the path, Host: evil.example",
               b"GET /api//stats?coin=bitcoin HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    BadRequest("malformed chunked body", b"POST /api/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:"
               b" chunked\r\nConnection: close\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"),
    BadRequest("chunked body over 4 KiB", b"POST /api/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:"
               b" chunked\r\nConnection: close\r\n\r\n1400\r\n{\"query\": \"bitcoin\"}"
               + b" " * 5100 + b"\r\n0\r\n\r\n"),
]  # fmt: skip
"""Requests that must each get a JSON 4xx from the served API: never a 5xx, never HTML."""


@dataclass(frozen=True)
class RawAnswer:
    status: int
    content_type: str
    body: bytes


def send_raw(host: str, port: int, raw: bytes, timeout: float = 10) -> RawAnswer:
    """Send raw bytes on a fresh connection and parse the first response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return RawAnswer(status, headers.get("content-type", ""), body)


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":", 1)[1])
    return 1 << 30


def check_hostile(api: Api, bad: BadRequest) -> RawAnswer:
    """Send one hostile request; raise ScenarioFailed unless it gets a JSON 4xx error."""
    host, port = api.url.removeprefix("http://").split(":")
    answer = send_raw(host, int(port), bad.raw)
    expect(400 <= answer.status < 500, f"{bad.name}: HTTP {answer.status}")
    expect(answer.content_type.startswith("application/json"), f"{bad.name}: {answer}")
    expect(b"<html" not in answer.body.lower(), f"{bad.name}: HTML body")
    expect(b'"error"' in answer.body, f"{bad.name}: no error key in {answer.body[:200]!r}")
    return answer


def hostile_input(lab: Lab) -> Outcome:
    """Every request of HOSTILE_REQUESTS against the gunicorn-served API."""
    api = lab.api(None, COINGECKO_API_URL="http://127.0.0.1:9")
    statuses: dict[int, int] = {}
    for bad in HOSTILE_REQUESTS:
        answer = check_hostile(api, bad)
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    expect(api.get("/health").status_code == 200, "the API stopped serving")
    shown = ", ".join(f"{count}x{status}" for status, count in sorted(statuses.items()))
    return Outcome(
        f"{len(HOSTILE_REQUESTS)} hostile HTTP requests (raw sockets)",
        f"all JSON 4xx ({shown}); no 5xx, no HTML",
    )
