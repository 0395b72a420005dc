"""The bodies of `/api/history`: JSON points and CSV rows built from buckets, and their validator.

The route parses `coin` and `days` and calls `history_response`, which picks the interval
(`buckets.choose_interval`) and the window (`history_window`), decides a 304 from `history_etag`
alone (no query, no body), and only then queries the buckets and renders JSON or CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Response, request

from api_server.buckets import Bucket, BucketReader, bucket_start, choose_interval
from api_server.conditional import IF_NONE_MATCH, etag_matches
from api_server.errors import InvalidRequest
from api_server.history import RenderedBodies
from api_server.times import iso_time

CSV_HEADER = ("time", "open", "high", "low", "close", "marketCap", "volume24h")
"""The CSV columns; `close` is the JSON `price`."""

CSV_MIMETYPE = "text/csv"

FORMATS = ("json", "csv")
"""Values of the `format` query parameter."""


@dataclass(frozen=True)
class HistoryWindow:
    """What one history answer covers: from the bucket holding `since`, at `interval`."""

    coin: str
    days: int
    interval: str
    since: datetime
    first_bucket: datetime


def history_window(coin: str, days: int, interval: str, now: datetime) -> HistoryWindow:
    """Return the window of the last `days` days at `interval`, ending now."""
    since = now - timedelta(days=days)
    return HistoryWindow(coin, days, interval, since, bucket_start(since, interval))


def history_etag(window: HistoryWindow, data_version: str) -> str:
    """Return a strong ETag that changes when the window slides or the coin's data changes.

    `data_version` is any token that changes whenever the coin's buckets are written (the read
    model's update stamp), so a 304 is decided without querying or rendering anything.
    """
    key = "|".join(
        (window.coin, str(window.days), window.interval, window.first_bucket.isoformat())
    )
    digest = hashlib.blake2b(f"{key}|{data_version}".encode(), digest_size=10).hexdigest()
    return f'"h-{digest}"'


def history_point(bucket: Bucket) -> dict[str, Any]:
    """Return one JSON point: today's keys (time, price, marketCap) and the bucket's others."""
    return {
        "time": iso_time(bucket.start),
        "price": bucket.close,
        "marketCap": bucket.market_cap,
        "open": bucket.open,
        "high": bucket.high,
        "low": bucket.low,
        "volume24h": bucket.volume_24h,
        "deviation": bucket.deviation,
    }


def history_body(window: HistoryWindow, buckets: Iterable[Bucket]) -> dict[str, Any]:
    """Return the JSON body: coin, days, interval and the points, oldest first."""
    return {
        "coin": window.coin,
        "days": window.days,
        "interval": window.interval,
        "points": [history_point(bucket) for bucket in buckets],
    }


def render_json(window: HistoryWindow, buckets: Iterable[Bucket]) -> bytes:
    """Return the JSON body as bytes."""
    return json.dumps(history_body(window, buckets)).encode()


def csv_rows(buckets: Iterable[Bucket]) -> Iterator[str]:
    """Yield the CSV text line by line (header first, CRLF endings), for a streamed answer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = (_csv_row(bucket) for bucket in buckets)
    for row in itertools.chain([CSV_HEADER], rows):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def csv_filename(window: HistoryWindow) -> str:
    """Return the download name, e.g. `bitcoin-30d-1h.csv`."""
    return f"{window.coin}-{window.days}d-{window.interval}.csv"


def csv_headers(window: HistoryWindow) -> dict[str, str]:
    """Return the headers that make a spreadsheet-friendly download."""
    return {"Content-Disposition": f'attachment; filename="{csv_filename(window)}"'}


def _csv_row(bucket: Bucket) -> tuple[Any, ...]:
    return (
        iso_time(bucket.start),
        repr(bucket.open),
        repr(bucket.high),
        repr(bucket.low),
        repr(bucket.close),
        repr(bucket.market_cap),
        "" if bucket.volume_24h is None else repr(bucket.volume_24h),
    )


def history_response(
    reader: BucketReader,
    *,
    coin: str,
    days: int,
    interval: str | None,
    fmt: str | None,
    data_version: str,
    now: datetime,
    max_age: int = 0,
    rendered: RenderedBodies | None = None,
) -> Response:
    """Answer a history request: 304 from the ETag alone, else JSON or a streamed CSV.

    Raises InvalidRequest (400) for an unknown format or interval, or one too fine for `days`.
    """
    fmt = fmt or "json"
    if fmt not in FORMATS:
        raise InvalidRequest(f"query parameter 'format' must be one of: {', '.join(FORMATS)}")
    window = history_window(coin, days, choose_interval(days, interval), now)
    etag = history_etag(window, f"{data_version}|{fmt}")
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if_none_match = request.environ.get(IF_NONE_MATCH)
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status=304, headers=headers)
    if fmt == "csv":
        buckets = reader.query(coin, window.interval, window.since)
        return Response(
            csv_rows(buckets), mimetype=CSV_MIMETYPE, headers={**headers, **csv_headers(window)}
        )
    body = rendered.get(etag) if rendered is not None else None
    if body is None:
        body = render_json(window, reader.query(coin, window.interval, window.since))
        if rendered is not None:
            rendered.put(etag, body)
    return Response(body, mimetype="application/json", headers=headers)
