from __future__ import annotations

import json
import math
from typing import Any

import pytest
import requests

from api_server.coingecko import CoinGeckoClient, parse_market_row, parse_markets_response
from api_server.errors import UpstreamError
from cryptostats.config import Settings, TrackedCoin

BTC = TrackedCoin("bitcoin", "bitcoin")


def row(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "bitcoin",
        "symbol": "btc",
        "name": "Bitcoin",
        "current_price": 67187.3358936566,
        "market_cap": 1317802988326.25,
        "price_change_percentage_24h": 3.63727894677354,
        "last_updated": "2025-07-25T14:53:12.345Z",
    }
    base.update(overrides)
    return base


def response(status: int, body: Any, content_type: str = "application/json") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.headers["Content-Type"] = content_type
    resp._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return resp


def test_valid_row_keeps_full_precision() -> None:
    quote, label = parse_market_row(BTC, row(), "api.coingecko.com")
    assert (label.symbol, label.name, quote.source) == ("btc", "Bitcoin", "api.coingecko.com")
    assert quote.price == 67187.3358936566
    assert quote.market_cap == 1317802988326.25
    assert quote.change_24h == 3.63727894677354
    assert quote.observed_at.isoformat() == "2025-07-25T14:53:12.345000+00:00"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("current_price", None, "null"),
        ("current_price", "67000", "not a number"),
        ("current_price", True, "not a number"),
        ("current_price", -1, "positive"),
        ("current_price", 0, "positive"),
        ("market_cap", -5, "negative"),
        ("market_cap", None, "null"),
        ("price_change_percentage_24h", None, "null"),
        ("last_updated", None, "timestamp"),
        ("last_updated", "yesterday", "ISO 8601"),
    ],
)
def test_invalid_rows_are_rejected_with_the_field_named(field: str, value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        parse_market_row(BTC, row(**{field: value}))
    assert field in str(caught.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_prices_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_market_row(BTC, row(current_price=value))


@pytest.mark.parametrize(
    ("resp", "kind"),
    [
        (response(200, "<html>Attention Required! | Cloudflare</html>", "text/html"), "not_json"),
        (
            response(200, {"status": {"error_code": 10011, "error_message": "bad key"}}),
            "error_body",
        ),
        (response(200, "{not json"), "not_json"),
        (response(429, {"status": {"error_code": 429}}), "rate_limited"),
        (response(503, {"error": "down"}), "server_error"),
        (response(401, {"error": "key"}), "http_error"),
    ],
)
def test_whole_answers_that_are_not_data_are_rejected(resp: requests.Response, kind: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_markets_response(resp)
    assert caught.value.kind == kind


class RecordingSession(requests.Session):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows
        self.requests: list[tuple[str, dict[str, str]]] = []

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        params = kwargs["params"]
        self.requests.append((str(url), dict(params)))
        wanted = params["ids"].split(",")
        return response(200, [r for r in self.rows if r["id"] in wanted])


def test_fetch_batches_250_ids_per_call_and_maps_aliases() -> None:
    coins = [TrackedCoin(f"c{i}", f"c{i}") for i in range(600)]
    coins.append(TrackedCoin("matic-network", "polygon-ecosystem-token"))
    rows = [row(id=c.upstream) for c in coins if c.public != "c7"]
    session = RecordingSession(rows)
    client = CoinGeckoClient(Settings.from_env({"COINS": "bitcoin"}), session=session)
    result = client.fetch(coins)
    assert result.calls == len(session.requests) == 3
    for _url, params in session.requests:
        assert params["precision"] == "full" and params["vs_currency"] == "usd"
    assert len(result.observations) == 600 == len(result.labels)
    assert "c7" in result.skipped and "missing" in result.skipped["c7"]
    assert any(q.coin == "matic-network" for q in result.observations)


def test_key_goes_in_the_plan_header_only() -> None:
    settings = Settings.from_env({"COINGECKO_API_KEY": "secret-key", "COINGECKO_API_PLAN": "pro"})
    client = CoinGeckoClient(settings, session=RecordingSession([]))
    assert client.session.headers["x-cg-pro-api-key"] == "secret-key"
    assert "x-cg-demo-api-key" not in client.session.headers
