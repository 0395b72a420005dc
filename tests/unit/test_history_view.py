"""History bodies: JSON points with the old keys kept, CSV rows, and the 304 validator."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, Response

from api_server.buckets import Bucket
from api_server.errors import InvalidRequest
from api_server.history import RenderedBodies
from api_server.history_view import (
    CSV_HEADER,
    csv_headers,
    csv_rows,
    history_body,
    history_etag,
    history_response,
    history_window,
    render_json,
)

NOW = datetime(2026, 5, 1, 12, 34, 56, tzinfo=UTC)


def bucket(hour: int, close: float = 101.5, volume: float | None = 7.25e9) -> Bucket:
    start = datetime(2026, 5, 1, hour, tzinfo=UTC)
    return Bucket(
        coin="bitcoin",
        interval="1h",
        start=start,
        open=100.0,
        open_at=start + timedelta(minutes=1),
        high=102.125,
        low=99.0,
        close=close,
        close_at=start + timedelta(minutes=59),
        market_cap=1.9e12,
        volume_24h=volume,
        deviation=None if hour % 2 else 12.87,
        deviation_at=None if hour % 2 else start,
        count=4,
    )


def test_window_starts_at_the_bucket_holding_since() -> None:
    window = history_window("bitcoin", 30, "1h", NOW)
    assert window.since == NOW - timedelta(days=30)
    assert window.first_bucket == datetime(2026, 4, 1, 12, tzinfo=UTC)


def test_json_keeps_todays_keys_and_adds_the_bucket_ones() -> None:
    window = history_window("bitcoin", 1, "1h", NOW)
    body = history_body(window, [bucket(10), bucket(11)])
    assert (body["coin"], body["days"], body["interval"]) == ("bitcoin", 1, "1h")
    first, second = body["points"]
    assert first == {
        "time": "2026-05-01T10:00:00.000Z",
        "price": 101.5,
        "marketCap": 1.9e12,
        "open": 100.0,
        "high": 102.125,
        "low": 99.0,
        "volume24h": 7.25e9,
        "deviation": 12.87,
    }
    assert second["deviation"] is None
    assert json.loads(render_json(window, [bucket(10)]))["points"][0]["price"] == 101.5


def test_csv_has_a_header_and_full_precision_rows() -> None:
    rows = [bucket(10, close=0.1 + 0.2), bucket(11, volume=None)]
    text = "".join(csv_rows(rows))
    assert text.startswith("time,open,high,low,close,marketCap,volume24h\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert tuple(parsed[0]) == CSV_HEADER
    assert parsed[1][0] == "2026-05-01T10:00:00.000Z"
    assert float(parsed[1][4]) == 0.1 + 0.2
    assert parsed[2][6] == "" and len(parsed) == 3


def test_csv_is_streamed_one_line_per_bucket() -> None:
    pulled: list[int] = []

    def lazily() -> Iterator[Bucket]:
        for hour in range(3):
            pulled.append(hour)
            yield bucket(hour)

    lines = csv_rows(lazily())
    assert next(lines).startswith("time,") and pulled == []
    assert next(lines).startswith("2026-05-01T00:00") and pulled == [0]
    assert len(list(lines)) == 2


def test_csv_is_an_attachment_named_after_the_window() -> None:
    window = history_window("bitcoin", 30, "1h", NOW)
    assert csv_headers(window) == {
        "Content-Disposition": 'attachment; filename="bitcoin-30d-1h.csv"'
    }


def test_etag_changes_with_data_and_window_only() -> None:
    window = history_window("bitcoin", 1, "5m", NOW)
    tag = history_etag(window, "v1")
    assert tag.startswith('"') and tag.endswith('"')
    same_bucket = history_window("bitcoin", 1, "5m", NOW + timedelta(seconds=3))
    assert history_etag(same_bucket, "v1") == tag
    slid = history_window("bitcoin", 1, "5m", NOW + timedelta(minutes=5))
    others = {
        history_etag(window, "v2"),
        history_etag(slid, "v1"),
        history_etag(history_window("bitcoin", 2, "5m", NOW), "v1"),
        history_etag(history_window("bitcoin", 1, "1h", NOW), "v1"),
        history_etag(history_window("ethereum", 1, "5m", NOW), "v1"),
    }
    assert tag not in others and len(others) == 5


class CountingReader:
    def __init__(self, buckets: list[Bucket]) -> None:
        self.buckets = buckets
        self.queries: list[tuple[str, str, datetime]] = []

    def query(
        self, coin: str, interval: str, since: datetime, until: datetime | None = None
    ) -> list[Bucket]:
        self.queries.append((coin, interval, since))
        return self.buckets


def answer(reader: CountingReader, headers: dict[str, str] | None = None, **kw: Any) -> Response:
    args: dict[str, Any] = {
        "coin": "bitcoin",
        "days": 1,
        "interval": None,
        "fmt": None,
        "data_version": "v1",
        "now": NOW,
        **kw,
    }
    with Flask(__name__).test_request_context("/api/history", headers=headers or {}):
        return history_response(reader, **args)


def test_json_answer_names_its_interval_and_queries_the_window() -> None:
    reader = CountingReader([bucket(10)])
    response = answer(reader, days=30)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["interval"] == "1h"
    assert reader.queries == [("bitcoin", "1h", NOW - timedelta(days=30))]


def test_a_matching_etag_is_a_304_without_a_query() -> None:
    reader = CountingReader([bucket(10)])
    etag = answer(reader).headers["ETag"]
    again = answer(reader, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert len(reader.queries) == 1
    changed = answer(reader, headers={"If-None-Match": etag}, data_version="v2")
    assert changed.status_code == 200


def test_csv_answer_is_an_attachment_with_its_own_etag() -> None:
    reader = CountingReader([bucket(10), bucket(11)])
    response = answer(reader, fmt="csv", days=2)
    assert response.mimetype == "text/csv" and response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="bitcoin-2d-5m.csv"'
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == "time,open,high,low,close,marketCap,volume24h"
    assert len(text.splitlines()) == 3
    assert response.headers["ETag"] != answer(reader, days=2).headers["ETag"]


@pytest.mark.parametrize(
    ("kw", "words"),
    [({"fmt": "xml"}, "'format'"), ({"interval": "5m", "days": 4}, "days=3")],
)
def test_bad_format_or_interval_is_a_400(kw: dict[str, Any], words: str) -> None:
    reader = CountingReader([])
    with pytest.raises(InvalidRequest) as caught:
        answer(reader, **kw)
    assert words in caught.value.message and reader.queries == []


def test_a_body_is_rendered_once_per_window_and_version() -> None:
    reader = CountingReader([bucket(10)])
    rendered = RenderedBodies(size=2)
    first = answer(reader, days=30, rendered=rendered)
    again = answer(reader, days=30, rendered=rendered)
    assert again.get_data() == first.get_data() and len(reader.queries) == 1
    answer(reader, days=30, rendered=rendered, data_version="v2")  # new data: rendered anew
    assert len(reader.queries) == 2
    answer(reader, days=7, rendered=rendered)
    answer(reader, days=30, rendered=rendered)  # evicted by size 2: rendered anew
    assert len(reader.queries) == 4
