from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.http import http_date

from api_server.conditional import etag_matches, not_modified
from tests.unit.conftest import Harness


@pytest.fixture
def loaded(harness: Harness) -> Harness:
    harness.ingest("test")
    return harness


@pytest.mark.parametrize(
    "url",
    [
        "/api/stats?coin=bitcoin",
        "/api/deviation?coin=bitcoin",
        "/stats?coin=bitcoin",
        "/api/coins",
    ],
)
def test_read_endpoints_send_validators_and_answer_304(loaded: Harness, url: str) -> None:
    first = loaded.client.get(url)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    assert modified == "Thu, 01 Jan 2026 00:01:00 GMT"
    age = int(re.fullmatch(r"public, max-age=(\d+)", first.headers["Cache-Control"]).group(1))
    assert 890 <= age <= 900
    again = loaded.client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    weak = loaded.client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert loaded.client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    since = loaded.client.get(url, headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    older = loaded.client.get(url, headers={"If-Modified-Since": "Wed, 31 Dec 2025 00:00:00 GMT"})
    assert older.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    both = loaded.client.get(url, headers={"If-None-Match": '"x"', "If-Modified-Since": modified})
    assert both.status_code == 200
    garbage = loaded.client.get(url, headers={"If-Modified-Since": "yesterday"})
    assert garbage.status_code == 200


def test_etag_changes_with_the_data(loaded: Harness) -> None:
    before = loaded.client.get("/api/stats?coin=bitcoin").headers["ETag"]
    loaded.ingest("again")
    after = loaded.client.get("/api/stats?coin=bitcoin")
    assert after.headers["ETag"] != before
    assert after.headers["Last-Modified"] == http_date(1767225720)  # 2026-01-01 00:02 UTC


def test_stale_data_has_max_age_zero(make_harness) -> None:  # type: ignore[no-untyped-def]
    harness = make_harness({"UPDATE_INTERVAL_SECONDS": "1"})
    harness.state.ingestor.now = lambda: datetime.now(UTC) - timedelta(seconds=2)
    harness.ingest("test")
    assert harness.client.get("/api/stats?coin=bitcoin").headers["Cache-Control"] == (
        "public, max-age=0"
    )


def test_etag_matching() -> None:
    assert etag_matches('"a"', '"a"') and etag_matches("*", '"a"')
    assert etag_matches('W/"a"', '"a"') and etag_matches('"b", "a"', '"a"')
    assert not etag_matches('"b"', '"a"') and not etag_matches("", '"a"')


def test_an_absurd_if_modified_since_is_ignored_by_the_views_themselves(loaded: Harness) -> None:
    # Straight to the Flask app, past the WSGI guard that drops such dates: the views still cope.
    absurd = "Sat, 01 Jan 99999999999 00:00:00 GMT"
    with loaded.app.test_request_context(
        "/api/stats?coin=bitcoin", headers={"If-Modified-Since": absurd}
    ):
        assert not_modified('"etag"', 1767225660) is False
