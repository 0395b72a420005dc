"""The market chart client: parsing, per-coin errors, plan limits (over HTTP: tests/integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from api_server.errors import UpstreamError
from api_server.market_chart import (
    PER_COIN_KINDS,
    MarketChartClient,
    parse_market_chart,
)
from cryptostats.config import Settings
from cryptostats_dev.simulator import HISTORY_LIMIT_BODY

T0 = 1_711_843_200_000  # 2024-03-31 00:00 UTC in ms
HOUR = 3_600_000


def response(status: int, body: Any, content_type: str = "application/json") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.headers["Content-Type"] = content_type
    resp._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return resp


def chart(n: int = 3, **override: list[Any]) -> dict[str, list[Any]]:
    times = [T0 + i * HOUR for i in range(n)]
    body: dict[str, list[Any]] = {
        "prices": [[t, 69702.3087473573 + i] for i, t in enumerate(times)],
        "market_caps": [[t, 1370247487960.09 + i] for i, t in enumerate(times)],
        "total_volumes": [[t, 16408802301.8374 + i] for i, t in enumerate(times)],
    }
    body.update(override)
    return body


def test_points_join_the_three_series_by_time_with_full_precision() -> None:
    result = parse_market_chart("bitcoin", 30, response(200, chart()))
    assert [p.observed_at for p in result.points] == [
        datetime(2024, 3, 31, h, tzinfo=UTC) for h in range(3)
    ]
    first = result.points[0]
    assert (first.price, first.market_cap, first.volume_24h) == (
        69702.3087473573,
        1370247487960.09,
        16408802301.8374,
    )
    assert not result.dropped


def test_milliseconds_are_kept_exactly() -> None:
    odd = T0 + 7_123
    body = chart(1, prices=[[odd, 1.0]], market_caps=[[odd, 2.0]], total_volumes=[[odd, 3.0]])
    [point] = parse_market_chart("bitcoin", 1, response(200, body)).points
    assert point.observed_at == datetime(2024, 3, 31, 0, 0, 7, 123_000, tzinfo=UTC)


def test_points_come_oldest_first_whatever_the_order_sent() -> None:
    body = chart(3)
    body["prices"].reverse()
    result = parse_market_chart("bitcoin", 30, response(200, body))
    times = [p.observed_at for p in result.points]
    assert times == sorted(times) and len(times) == 3


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"market_caps": [[T0, None], [T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]}, "market cap null"),
        ({"total_volumes": [[T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]}, "volume missing"),
        (
            {"prices": [[T0, 0], [T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]},
            "price not a positive number",
        ),
        (
            {"prices": [[T0, "1"], [T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]},
            "price not a positive number",
        ),
        (
            {"market_caps": [[T0, -5.0], [T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]},
            "market cap not a number >= 0",
        ),
        (
            {"total_volumes": [[T0, True], [T0 + HOUR, 1.0], [T0 + 2 * HOUR, 1.0]]},
            "volume not a number >= 0",
        ),
    ],
)
def test_invalid_points_are_dropped_and_counted(override: dict[str, Any], reason: str) -> None:
    result = parse_market_chart("bitcoin", 30, response(200, chart(**override)))
    assert len(result.points) == 2
    assert result.points[0].observed_at == datetime(2024, 3, 31, 1, tzinfo=UTC)
    assert result.dropped == {reason: 1}


def test_malformed_entries_are_dropped_and_counted() -> None:
    body = chart(2)
    body["prices"] += [[T0 + 9 * HOUR], "x", [None, 1.0], [float("inf"), 1.0]]
    result = parse_market_chart("bitcoin", 30, response(200, body))
    assert len(result.points) == 2
    assert result.dropped == {"malformed entry": 4}


def test_unknown_coin_is_a_per_coin_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_market_chart("nope", 30, response(404, {"error": "coin not found"}))
    assert caught.value.kind == "unknown_coin" and "nope" in caught.value.message
    assert caught.value.kind in PER_COIN_KINDS


def test_history_beyond_the_plan_is_a_per_coin_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_market_chart("bitcoin", 400, response(401, HISTORY_LIMIT_BODY))
    assert caught.value.kind == "history_limit" and caught.value.kind in PER_COIN_KINDS


@pytest.mark.parametrize(
    ("resp", "kind"),
    [
        (response(401, {"status": {"error_code": 10002}}), "http_error"),
        (response(429, {"status": {"error_code": 429}}), "rate_limited"),
        (response(503, "busy", "text/plain"), "server_error"),
        (response(200, "<html>blocked</html>", "text/html"), "not_json"),
        (response(200, {"status": {"error_code": 10011}}), "error_body"),
        (response(200, {"prices": [], "market_caps": []}), "error_body"),
        (response(200, []), "error_body"),
    ],
)
def test_answers_that_are_not_chart_data_are_rejected(resp: requests.Response, kind: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_market_chart("bitcoin", 30, resp)
    assert caught.value.kind == kind


def test_keyless_and_demo_plans_never_ask_beyond_365_days() -> None:
    client = MarketChartClient(Settings.from_env({"COINGECKO_API_URL": "http://127.0.0.1:9"}))
    with pytest.raises(UpstreamError) as caught:
        client.fetch("bitcoin", 366)
    assert caught.value.kind == "history_limit"
