"""Hostile request input that used to reach the app raw: absurd dates and broken bodies."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from tests.unit.conftest import Harness

ABSURD_DATES = [
    "Sat, 01 Jan 99999999999 00:00:00 GMT",
    "Sat, 01 Jan 10000 00:00:00 GMT",
    "Mon, 99 Foo 2026 99:99:99 GMT",
    "-1",
    "\x00",
]

READ_ROUTES = [
    "/api/stats?coin=bitcoin",
    "/api/deviation?coin=bitcoin",
    "/stats?coin=bitcoin",
    "/deviation?coin=bitcoin",
    "/api/coins",
    "/api/history?coin=bitcoin&days=1",
    "/",
    "/static/dashboard.css",
    "/static/js/main.js",
    "/docs/assets/swagger-ui.css",
]


@pytest.fixture
def loaded(harness: Harness) -> Harness:
    harness.ingest("test")
    return harness


@pytest.fixture(scope="module")
def loaded_for_reads(module_make_harness: Callable[..., Harness]) -> Harness:
    """One loaded app for the module's GET-only cases (they change nothing)."""
    harness = module_make_harness()
    harness.ingest("test")
    return harness


@pytest.mark.parametrize("header", ["If-Modified-Since", "If-Unmodified-Since", "If-Range"])
@pytest.mark.parametrize("date", ABSURD_DATES)
@pytest.mark.parametrize("url", READ_ROUTES)
def test_an_absurd_date_is_ignored(
    loaded_for_reads: Harness, url: str, header: str, date: str
) -> None:
    plain = loaded_for_reads.client.get(url)
    plain_status = plain.status_code
    plain.close()
    response = loaded_for_reads.client.get(url, headers={header: date})
    assert response.status_code == plain_status == 200
    response.close()


class Chunks(io.RawIOBase):
    """A request body the server hands to the app in pieces; raises what it is told to."""

    def __init__(self, data: bytes, error: Exception | None = None) -> None:
        self.data = data
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if not self.data:
            if self.error is not None:
                raise self.error
            return 0
        size = min(len(buffer), len(self.data), 1000)
        buffer[:size] = self.data[:size]
        self.data = self.data[size:]
        return size


def post_chunked(harness: Harness, stream: io.RawIOBase) -> tuple[int, dict]:
    # Like gunicorn with Transfer-Encoding: chunked: no CONTENT_LENGTH, the server ends the stream.
    response = harness.client.post(
        "/api/ask",
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input": io.BufferedReader(stream), "wsgi.input_terminated": True},
    )
    return response.status_code, response.get_json()


class InvalidChunkSize(Exception):
    """Like gunicorn.http.errors.InvalidChunkSize: not an OSError."""


def test_malformed_chunked_body_is_json_400(loaded: Harness) -> None:
    status, body = post_chunked(loaded, Chunks(b"", InvalidChunkSize("ZZ")))
    assert status == 400
    assert body == {"error": "malformed or incomplete request body"}


def test_body_cut_short_is_json_400(loaded: Harness) -> None:
    status, body = post_chunked(loaded, Chunks(b'{"query"', ConnectionResetError()))
    assert status == 400


def test_body_that_stops_arriving_is_json_408(loaded: Harness) -> None:
    status, body = post_chunked(loaded, Chunks(b'{"query"', TimeoutError("read deadline")))
    assert status == 408
    assert body == {"error": "request body not received in time"}


@pytest.mark.parametrize("size", [4097, 5000, 100_000])
def test_chunked_body_over_the_limit_is_json_413(loaded: Harness, size: int) -> None:
    payload = b'{"query": "' + b"a" * size + b'"}'
    status, body = post_chunked(loaded, Chunks(payload))
    assert status == 413
    assert body == {"error": "request body too large"}


def test_chunked_body_at_the_limit_is_answered(loaded: Harness) -> None:
    prefix, suffix = b'{"query": "price of bitcoin"', b"}"
    payload = prefix + b" " * (4096 - len(prefix) - len(suffix)) + suffix
    assert len(payload) == 4096
    status, body = post_chunked(loaded, Chunks(payload))
    assert status == 200
    assert body["coin"] == "bitcoin"
