"""Hostile HTTP input against the API under gunicorn, from raw sockets (issue 10).

One API process serves every test of the module: fed by the simulator so the read routes have
data, with the request read deadline lowered to READ_SECONDS to keep the slow cases short.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from cryptostats_dev.brokers import RedisServer
from cryptostats_dev.lab import Api, lab_for
from cryptostats_dev.procs import wait_until
from tests.integration.test_dashboard import Watched, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

READ_SECONDS = 1.5
"""REQUEST_READ_TIMEOUT_SECONDS of the API under test (production: 15 s)."""

ABSURD_DATE = b"Sat, 01 Jan 99999999999 00:00:00 GMT"


@dataclass
class Exchange:
    """What came back for raw bytes sent on one connection, and when."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    """From the first byte sent to the end of the answer (or the server closing)."""
    closed: bool = False


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    logs = tmp_path_factory.mktemp("logs")
    with RedisServer() as server, lab_for(server, logs) as lab:
        sim = lab.simulator()
        served = lab.api(sim, REQUEST_READ_TIMEOUT_SECONDS=str(READ_SECONDS), API_WORKERS="1")
        wait_until(
            lambda: served.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data"
        )
        yield served


def address(api: Api) -> tuple[str, int]:
    host, port = api.url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(api: Api, raw: bytes | list[bytes], timeout: float = 10) -> Exchange:
    """Send raw bytes (a list: pieces, the rest after the answer) while reading the answer."""
    pieces = raw if isinstance(raw, list) else [raw]
    result = Exchange()
    with socket.create_connection(address(api), timeout=timeout) as sock:

        def send() -> None:
            try:
                for piece in pieces:
                    sock.sendall(piece)
            except OSError:
                pass  # the server answered and closed before taking everything: expected

        started = time.monotonic()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        data = b""
        try:
            while not _complete(data):
                chunk = sock.recv(65536)
                if not chunk:
                    result.closed = True
                    break
                data += chunk
        except ConnectionResetError:
            result.closed = True
        result.seconds = time.monotonic() - started
    head, _, result.body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].startswith("HTTP/"):
        result.status = int(lines[0].split(" ")[1])
    result.headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    return result


def _complete(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def get(path: bytes, *headers: bytes, host: bytes = b"x") -> bytes:
    """A GET with these header lines, closing the connection after the answer."""
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: " + host, *headers, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def chunked_ask(body: bytes) -> bytes:
    """A POST /api/ask whose body (already chunk-framed) is sent as it is."""
    return (
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
    )


def one_chunk(payload: bytes) -> bytes:
    return b"%x\r\n" % len(payload) + payload + b"\r\n0\r\n\r\n"


def assert_json_error(answer: Exchange, status: int) -> dict[str, object]:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, object] = json.loads(answer.body)
    assert isinstance(body.get("error"), str)
    return body


def worker_rss_kib(api: Api) -> int:
    """Resident memory of the API's (single) gunicorn worker process."""
    master = api.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --- 1. the request line is bounded ------------------------------------------------------------


def test_a_14_mb_request_line_gets_a_json_414_within_a_second_while_still_arriving(
    api: Api,
) -> None:
    rss_before = worker_rss_kib(api)
    line = b"GET /api/stats?coin=" + b"a" * (14 * 1024 * 1024)
    pieces = [line[i : i + 65536] for i in range(0, len(line), 65536)]
    answer = exchange(api, [*pieces, b" HTTP/1.1\r\nHost: x\r\n\r\n"])
    body = assert_json_error(answer, 414)
    assert body == {"error": "request URI too long"}
    assert answer.seconds < 1.0
    assert worker_rss_kib(api) - rss_before < 10 * 1024
    assert api.get("/health").status_code == 200


def test_a_query_over_4_kib_still_gets_the_apps_json_414(api: Api) -> None:
    answer = exchange(api, b"GET /api/stats?coin=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_json_error(answer, 414)
    assert "x-request-id" in answer.headers  # answered by the app, not by gunicorn


# --- 2. inputs that gave a 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        b"/api/stats?coin=bitcoin",
        b"/api/deviation?coin=bitcoin",
        b"/api/coins",
        b"/api/history?coin=bitcoin&days=1",
        b"/",
        b"/static/dashboard.css",
        b"/docs/assets/swagger-ui.css",
    ],
)
def test_an_absurd_if_modified_since_is_ignored(api: Api, path: bytes) -> None:
    answer = exchange(api, get(path, b"If-Modified-Since: " + ABSURD_DATE))
    assert answer.status == 200, answer


def test_a_malformed_chunked_body_is_a_json_400(api: Api) -> None:
    answer = exchange(api, chunked_ask(b"ZZ\r\nabc\r\n0\r\n\r\n"))
    assert assert_json_error(answer, 400) == {"error": "malformed or incomplete request body"}


def test_a_chunked_body_over_4_kib_is_a_json_413(api: Api) -> None:
    payload = b'{"query": "price of bitcoin"}' + b" " * 5000
    answer = exchange(api, chunked_ask(one_chunk(payload)))
    assert assert_json_error(answer, 413) == {"error": "request body too large"}


def test_a_chunked_body_within_4_kib_is_answered(api: Api) -> None:
    payload = b'{"query": "price of bitcoin"}'
    answer = exchange(api, chunked_ask(one_chunk(payload)))
    assert answer.status == 200 and json.loads(answer.body)["coin"] == "bitcoin"


# --- 3. requests that never finish arriving ---------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"query"',
            id="content-length-larger-than-the-body",
        ),
        pytest.param(
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"que\r\n',
            id="chunked-body-that-never-ends",
        ),
    ],
)
def test_a_body_that_stops_arriving_is_a_json_408_at_the_deadline(api: Api, raw: bytes) -> None:
    answer = exchange(api, raw)
    body = assert_json_error(answer, 408)
    assert body == {"error": "request body not received in time"}
    assert READ_SECONDS - 0.1 <= answer.seconds <= READ_SECONDS + 1.0


def test_a_head_that_stops_arriving_is_a_json_408_at_the_deadline(api: Api) -> None:
    answer = exchange(api, b"GET /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert assert_json_error(answer, 408) == {"error": "request not received in time"}
    assert READ_SECONDS - 0.1 <= answer.seconds <= READ_SECONDS + 1.0
    assert "server" not in answer.headers


# --- 7. doubled slashes -----------------------------------------------------------------------


def test_a_doubled_slash_is_a_json_404_without_a_redirect(api: Api) -> None:
    answer = exchange(api, get(b"/api//stats?coin=bitcoin", host=b"evil.example"))
    assert assert_json_error(answer, 404) == {"error": "not found"}
    assert "location" not in answer.headers


# --- 8. log lines -----------------------------------------------------------------------------


def test_log_lines_carry_no_raw_control_or_separator_characters(api: Api) -> None:
    answer = exchange(api, get(b"/api/x%E2%80%A8y%C2%85z%C2%9Bw%E2%80%AE"))
    assert_json_error(answer, 404)

    def logged() -> str | None:
        text = api.process.log_text()
        return text if "/api/x\\u2028y" in text else None

    text = wait_until(logged, 5, "the access line")
    for char in ("\u2028", "\u0085", "\u009b", "\u202e"):
        assert char not in text
    line = next(ln for ln in text.splitlines() if "/api/x\\u2028y" in ln)
    assert json.loads(line)["path"] == "/api/x\u2028y\u0085z\u009bw\u202e"


# --- 9. headers -------------------------------------------------------------------------------


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET /api/stats?coin=bitcoin HTTP/1.1\r\nHost: x\r\n", id="app-json"),
        pytest.param(b"GET /nope HTTP/1.1\r\nHost: x\r\n", id="app-404"),
        pytest.param(b"GET /api/stats?coin=a\x01 HTTP/1.1\r\nHost: x\r\n", id="gunicorn-400"),
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n", id="gunicorn-414"),
    ],
)
def test_every_answer_has_the_security_headers_and_no_server_banner(api: Api, raw: bytes) -> None:
    answer = exchange(api, raw + b"Connection: close\r\n\r\n")
    assert answer.headers["content-type"].startswith("application/json")
    assert "server" not in answer.headers, answer.headers
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value
    assert answer.headers["permissions-policy"].startswith("accelerometer=()")


def test_swagger_ui_renders_under_its_csp_in_chromium(api: Api, browser: Browser) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        watched = Watched(page)
        errors_from: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors_from.append(m.location["url"]))
        response = page.goto(f"{api.url}/docs")
        assert response is not None and "sha256-" in response.headers["content-security-policy"]
        page.locator(".swagger-ui .info .title", has_text="cryptostats").wait_for()
        page.locator(".opblock-summary-path", has_text="/api/stats").first.click()
        page.get_by_role("button", name="Try it out").first.click()
        page.locator(".opblock-body input, .opblock-body select").first.wait_for()
        assert watched.csp_violations() == []
        assert watched.page_errors == []
        # The only failed load is the browser's own /favicon.ico (the API has none).
        assert set(errors_from) <= {f"{api.url}/favicon.ico"}
    finally:
        context.close()
