"""The CoinGecko simulator in-process (Flask's test client): shapes against CoinGecko's OpenAPI
file, data, faults, the control API. tests/integration/test_simulator_server.py serves it over HTTP.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cryptostats_dev.market import DAY_MS, FIVE_MINUTES_MS, HOUR_MS
from cryptostats_dev.sim_state import SimulatedCoinGecko
from tests.unit.sim_client import T0, Answer, ManualClock, SimClient

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_FILE = ROOT.parent / "shared" / "reference" / "coingecko-public-api-v3.yml"

LAST_UPDATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MARKET_FIELDS = (
    "id symbol name image current_price market_cap market_cap_rank fully_diluted_valuation "
    "total_volume high_24h low_24h price_change_24h price_change_percentage_24h "
    "market_cap_change_24h market_cap_change_percentage_24h circulating_supply total_supply "
    "max_supply ath ath_change_percentage ath_date atl atl_change_percentage atl_date roi "
    "last_updated"
).split()
RATE_LIMIT_MESSAGE = (
    "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
    "to subscribe to our API plans for higher rate limits."
)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI_FILE.is_file():
        pytest.skip(f"CoinGecko OpenAPI reference not found at {OPENAPI_FILE}")
    loader = getattr(
        yaml, "CSafeLoader", yaml.SafeLoader
    )  # the C parser, when built, is 10x faster
    spec: dict[str, Any] = yaml.load(OPENAPI_FILE.read_text(encoding="utf-8"), Loader=loader)
    return spec


def response_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    """Return the 200 JSON schema of `path`, refs resolved, every field allowed to be null.

    The file is OpenAPI 3.0 without `nullable`, yet CoinGecko sends null for many fields
    (`roi`, `max_supply`, market caps), as coingecko-facts.md records.
    """
    ok = openapi["paths"][path]["get"]["responses"]["200"]
    schema = resolve(openapi, ok["content"]["application/json"]["schema"])
    return {**schema, "properties": nullable(schema["properties"])}


def resolve(openapi: dict[str, Any], node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            *_, name = node["$ref"].split("/")
            return resolve(openapi, openapi["components"]["schemas"][name])
        return {key: resolve(openapi, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(openapi, item) for item in node]
    return node


def nullable(node: Any) -> Any:
    if isinstance(node, dict):
        relaxed = {key: nullable(value) for key, value in node.items()}
        if isinstance(relaxed.get("type"), str):
            relaxed["type"] = [relaxed["type"], "null"]
        return relaxed
    if isinstance(node, list):
        return [nullable(item) for item in node]
    return node


@pytest.fixture
def server() -> SimClient:
    """A simulator with 50 synthetic coins (cheap to build)."""
    return SimClient(SimulatedCoinGecko(seed=7, extra_coins=50))


@pytest.fixture
def full_server() -> SimClient:
    """The simulator with its default catalogue (over 1,000 coins)."""
    return SimClient(SimulatedCoinGecko(seed=7))


def get(srv: SimClient, path: str, **params: Any) -> Answer:
    return srv.get(path, **params)


def markets(srv: SimClient, **params: Any) -> list[dict[str, Any]]:
    response = get(srv, "/coins/markets", vs_currency="usd", precision="full", **params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- shapes -----------------------------------------------------------------------------------


def test_ping_matches_spec(server: SimClient, openapi: dict[str, Any]) -> None:
    body = get(server, "/ping").json()
    jsonschema.validate(body, response_schema(openapi, "/ping"))
    assert body == {"gecko_says": "(V3) To the Moon!"}


def test_coins_markets_items_match_spec(server: SimClient, openapi: dict[str, Any]) -> None:
    rows = markets(server, ids="bitcoin,ethereum,tether,sim-coin-0001")
    schema = response_schema(openapi, "/coins/markets")
    assert len(rows) == 4
    for row in rows:
        jsonschema.validate(row, schema)
        assert set(MARKET_FIELDS) <= set(row)
        for name in ("current_price", "market_cap", "price_change_percentage_24h"):
            assert isinstance(row[name], float)
        assert LAST_UPDATED.match(row["last_updated"]), row["last_updated"]
        assert parse_iso(row["ath_date"]) <= parse_iso(row["last_updated"])
    bitcoin = rows[0]
    assert (bitcoin["id"], bitcoin["symbol"], bitcoin["name"]) == ("bitcoin", "btc", "Bitcoin")
    assert bitcoin["market_cap"] == pytest.approx(
        bitcoin["current_price"] * bitcoin["circulating_supply"]
    )


def test_coins_markets_knows_pol_and_not_matic(server: SimClient) -> None:
    rows = markets(server, ids="matic-network,polygon-ecosystem-token,no-such-coin")
    assert [(r["id"], r["symbol"], r["name"]) for r in rows] == [
        ("polygon-ecosystem-token", "pol", "POL (ex-MATIC)")
    ]
    assert markets(server, ids="matic-network") == []


@pytest.mark.parametrize(
    ("order", "key", "descending"),
    [
        ("market_cap_desc", "market_cap", True),
        ("market_cap_asc", "market_cap", False),
        ("id_asc", "id", False),
        ("id_desc", "id", True),
        ("volume_desc", "total_volume", True),
    ],
)
def test_coins_markets_order(server: SimClient, order: str, key: str, descending: bool) -> None:
    rows = markets(server, ids="bitcoin,ethereum,dogecoin,solana,sim-coin-0002", order=order)
    values = [row[key] for row in rows]
    assert values == sorted(values, reverse=descending)


def test_coins_markets_defaults_to_market_cap_desc(server: SimClient) -> None:
    rows = markets(server, ids="dogecoin,bitcoin,ethereum")
    assert [row["id"] for row in rows] == ["bitcoin", "ethereum", "dogecoin"]
    assert rows[0]["market_cap_rank"] == 1


@pytest.mark.parametrize("params", [{"vs_currency": "eur"}, {}])
def test_coins_markets_rejects_other_currencies(server: SimClient, params: dict[str, str]) -> None:
    response = get(server, "/coins/markets", ids="bitcoin", **params)
    assert (response.status_code, response.json()) == (400, {"error": "invalid vs_currency"})


@pytest.mark.parametrize("per_page", ["0", "251", "-1", "ten"])
def test_coins_markets_per_page_bounds(server: SimClient, per_page: str) -> None:
    response = get(server, "/coins/markets", vs_currency="usd", per_page=per_page)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_coins_markets_pages_default_to_100(full_server: SimClient) -> None:
    assert len(markets(full_server)) == 100
    assert len(markets(full_server, per_page=1)) == 1
    assert len(markets(full_server, per_page=250)) == 250


# --- data -------------------------------------------------------------------------------------


def test_prices_move_and_last_updated_strictly_increases(server: SimClient) -> None:
    ids = "bitcoin,ethereum,sim-coin-0042"
    snapshots = [{r["id"]: r for r in markets(server, ids=ids)} for _ in range(5)]
    for coin in ids.split(","):
        prices = [snap[coin]["current_price"] for snap in snapshots]
        stamps = [parse_iso(snap[coin]["last_updated"]) for snap in snapshots]
        assert len(set(prices)) == len(prices), f"{coin} did not move: {prices}"
        assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False)), stamps
        changes = [snap[coin]["price_change_percentage_24h"] for snap in snapshots]
        assert all(-50 < change < 50 for change in changes)


def test_one_thousand_synthetic_ids_in_four_calls_of_250(full_server: SimClient) -> None:
    ids = [f"sim-coin-{n:04d}" for n in range(1, 1001)]
    seen: dict[str, dict[str, Any]] = {}
    for start in range(0, 1000, 250):
        rows = markets(full_server, ids=",".join(ids[start : start + 250]), per_page=250)
        assert len(rows) == 250
        seen.update({row["id"]: row for row in rows})
    assert sorted(seen) == ids
    assert full_server.sim.calls == {"/coins/markets": 4}


def test_paging_without_ids_walks_every_coin_once(full_server: SimClient) -> None:
    total = len(full_server.sim.coin_ids)
    pages = [markets(full_server, per_page=250, page=p) for p in range(1, total // 250 + 3)]
    ids = [row["id"] for page in pages for row in page]
    assert pages[-1] == []
    assert len(ids) >= 1000
    assert total - 5 <= len(set(ids)) <= total  # ranks may swap a little between calls
    assert {"bitcoin", "ethereum", "polygon-ecosystem-token"} <= set(ids)


def test_prices_are_deterministic_given_seed_and_times() -> None:
    def run(seed: int) -> list[Any]:
        sim = SimulatedCoinGecko(seed=seed, extra_coins=5, now_ms=lambda: 1_750_000_000_000)
        return [
            [row["current_price"] for row in sim.coins_markets(
                None, order="id_asc", per_page=250, page=1, precision="full", fault=None
            )]
            for _ in range(3)
        ]  # fmt: skip

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_reset_forgets_the_calls_but_not_the_price_path() -> None:
    server = SimClient(SimulatedCoinGecko(seed=7, extra_coins=5, now_ms=ManualClock(T0)))
    first = markets(server, ids="bitcoin")[0]
    server.sim.reset()
    assert server.sim.calls == {} and server.sim.served == []
    again = markets(server, ids="bitcoin")[0]
    stamps = [parse_iso(row["last_updated"]) for row in (first, again)]
    assert stamps[1] > stamps[0], "the clock goes on"
    for row, stamp in zip((first, again), stamps, strict=True):
        ms = int(stamp.timestamp() * 1000)
        assert row["current_price"] == server.sim.price_at("bitcoin", ms)


@pytest.mark.parametrize(
    ("days", "interval", "expected_points"),
    [(1, FIVE_MINUTES_MS, 288), (30, HOUR_MS, 720), (365, DAY_MS, 365)],
)
def test_market_chart_granularity(
    openapi: dict[str, Any],
    days: int,
    interval: int,
    expected_points: int,
) -> None:
    clock = ManualClock(T0)
    server = SimClient(SimulatedCoinGecko(seed=7, extra_coins=5, now_ms=clock))
    # "Now" at every 20 s of one 5-minute slot: before and after that slot's snapshot (1-90 s late).
    for step in range(16):
        clock.advance(20)
        body = get(server, "/coins/bitcoin/market_chart", vs_currency="usd", days=days).json()
        if step in (0, 15):  # the shape does not depend on the time; validating is slow
            jsonschema.validate(body, response_schema(openapi, "/coins/{id}/market_chart"))
        assert set(body) == {"prices", "market_caps", "total_volumes"}
        times = [t for t, _ in body["prices"]]
        assert expected_points <= len(times) <= expected_points + 2
        gaps = [b - a for a, b in zip(times[:-2], times[1:-1], strict=True)]
        assert all(abs(gap - interval) < 90_000 for gap in gaps), "snapshots are 1-90 s late"
        # Before this slot's snapshot, the last one is the slot before's: up to 90 s older.
        assert 0 < times[-1] - times[-2] <= interval + 90_000
        assert times[-1] == clock.ms, "the last point is now"
        for series in body.values():
            assert [t for t, _ in series] == times
            assert all(isinstance(v, float) and v > 0 for _, v in series)


def test_market_chart_limits_history_to_365_days(server: SimClient) -> None:
    response = get(server, "/coins/bitcoin/market_chart", vs_currency="usd", days=366)
    assert response.status_code == 401
    status = response.json()["error"]["status"]
    assert status["error_code"] == 10012
    assert "365 days" in status["error_message"]


@pytest.mark.parametrize("coin", ["matic-network", "no-such-coin"])
def test_market_chart_of_unknown_coin_is_404(server: SimClient, coin: str) -> None:
    response = get(server, f"/coins/{coin}/market_chart", vs_currency="usd", days=1)
    assert (response.status_code, response.json()) == (404, {"error": "coin not found"})


@pytest.mark.parametrize("path", ["/coins/list/nope", "/_sim/nope", "/api/v3/ping"])
def test_any_other_path_is_a_json_404(server: SimClient, path: str) -> None:
    response = get(server, path)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


def test_base_path_serves_like_the_real_host() -> None:
    srv = SimClient(SimulatedCoinGecko(extra_coins=0), base_path="/api/v3/")
    assert get(srv, "/ping").json() == {"gecko_says": "(V3) To the Moon!"}
    assert [row["id"] for row in markets(srv, ids="bitcoin")] == ["bitcoin"]
    assert srv.sim.calls == {"/coins/markets": 1}
    assert srv.client.get("/coins/markets?vs_currency=usd").status_code == 404


# --- faults over HTTP --------------------------------------------------------------------------


def set_fault(srv: SimClient, **fault: Any) -> dict[str, Any]:
    response = srv.post("/_sim/fault", json=fault)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_rate_limit_fault_answers_429_for_count_calls(server: SimClient) -> None:
    set_fault(server, mode="rate_limit", count=2, retry_after=3)
    for _ in range(2):
        response = get(server, "/coins/markets", vs_currency="usd", ids="bitcoin")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json() == {
            "status": {"error_code": 429, "error_message": RATE_LIMIT_MESSAGE}
        }
    assert get(server, "/coins/markets", vs_currency="usd", ids="bitcoin").status_code == 200
    assert server.sim.calls == {"/coins/markets": 3}, "calls that got a fault count too"


def test_rate_limit_reset_fault_sends_reset_headers(server: SimClient) -> None:
    set_fault(server, mode="rate_limit_reset", count=1)
    response = get(server, "/coins/markets", vs_currency="usd")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.headers["x-ratelimit-limit"] == "30"
    assert response.headers["x-ratelimit-remaining"] == "0"
    reset = datetime.strptime(response.headers["x-ratelimit-reset"], "%Y-%m-%d %H:%M:%S %z")
    assert 0 <= (reset - datetime.now(UTC)).total_seconds() <= 2
    assert response.json()["status"]["error_code"] == 429


def test_server_error_fault(server: SimClient) -> None:
    set_fault(server, mode="server_error", count=1)
    response = get(server, "/coins/bitcoin/market_chart", vs_currency="usd", days=1)
    assert response.status_code == 500
    assert set(response.json()) == {"error"}


def test_html_fault_sends_a_cloudflare_page_with_200(server: SimClient) -> None:
    set_fault(server, mode="html", count=1)
    response = get(server, "/coins/markets", vs_currency="usd", ids="bitcoin")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Cloudflare" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_error_200_fault_sends_an_error_status_body(server: SimClient) -> None:
    set_fault(server, mode="error_200", count=1)
    response = get(server, "/coins/markets", vs_currency="usd", ids="bitcoin")
    assert response.status_code == 200
    assert response.json()["status"]["error_code"] == 10011


def test_slow_fault_answers_the_data_once_its_wait_ends(server: SimClient) -> None:
    set_fault(server, mode="slow", count=1, delay=30)
    server.slow_waits.set()  # as when the server stops: the held request goes on at once
    assert [row["id"] for row in markets(server, ids="bitcoin")] == ["bitcoin"]
    assert server.sim.calls == {"/coins/markets": 1}
    assert server.sim.served[-1]["fault"] == "slow"


def test_api_keys_are_accepted_and_never_stored(server: SimClient) -> None:
    secret = "CG-secretvalue1234567890"
    response = server.client.get(
        "/coins/markets?vs_currency=usd&ids=bitcoin", headers={"x-cg-pro-api-key": secret}
    )
    assert response.status_code == 200
    assert server.sim.last_key_header == "x-cg-pro-api-key"
    assert server.sim.last_headers["x-cg-pro-api-key"] == "[redacted]"
    get(server, "/coins/markets", vs_currency="usd", x_cg_demo_api_key=secret)
    assert server.sim.last_key_header == "x_cg_demo_api_key"
    assert secret not in repr(server.sim.last_headers) + repr(server.sim.served)


def test_missing_coins_fault_leaves_coins_out(server: SimClient) -> None:
    set_fault(server, mode="missing_coins", coins=["ethereum"])
    assert [r["id"] for r in markets(server, ids="bitcoin,ethereum")] == ["bitcoin"]
    chart = get(server, "/coins/ethereum/market_chart", vs_currency="usd", days=1)
    assert chart.status_code == 404
    server.delete("/_sim/fault").raise_for_status()
    assert len(markets(server, ids="bitcoin,ethereum")) == 2


def test_null_fields_fault_nulls_the_listed_coins(server: SimClient) -> None:
    set_fault(server, mode="null_fields", coins=["ethereum"], count=2)
    rows = {r["id"]: r for r in markets(server, ids="bitcoin,ethereum")}
    for name in ("current_price", "market_cap", "price_change_percentage_24h"):
        assert rows["ethereum"][name] is None
        assert rows["bitcoin"][name] is not None
    chart = get(server, "/coins/ethereum/market_chart", vs_currency="usd", days=1).json()
    assert all(cap is None for _, cap in chart["market_caps"])
    assert server.sim.fault is None, "count=2 used up"


def test_fault_control_rejects_bad_requests(server: SimClient) -> None:
    bad_faults: list[dict[str, Any]] = [
        {"mode": "explode"},
        {"mode": "slow", "count": 0},
        {"mode": "html", "coins": 3},
    ]
    for bad in bad_faults:
        response = server.post("/_sim/fault", json=bad)
        assert response.status_code == 400
        assert set(response.json()) == {"error"}
    assert server.get("/_sim/fault").json() == {"fault": None}


def test_in_process_fault_control(server: SimClient) -> None:
    server.sim.set_fault("server_error")
    assert get(server, "/coins/markets", vs_currency="usd").status_code == 500
    assert get(server, "/coins/markets", vs_currency="usd").status_code == 500
    server.sim.clear_fault()
    assert get(server, "/coins/markets", vs_currency="usd").status_code == 200


# --- control API and keys ----------------------------------------------------------------------


def test_control_api_reports_calls_and_served_and_resets(server: SimClient) -> None:
    rows = markets(server, ids="bitcoin,ethereum")
    get(server, "/coins/bitcoin/market_chart", vs_currency="usd", days=1)
    get(server, "/ping")
    calls = server.get("/_sim/calls").json()
    assert calls["calls"] == {
        "/coins/markets": 1,
        "/coins/bitcoin/market_chart": 1,
    }
    assert calls["total"] == 2
    served = server.get("/_sim/served").json()
    assert [entry["path"] for entry in served] == list(calls["calls"])
    assert served == server.sim.served
    for row in rows:
        logged = served[0]["coins"][row["id"]]
        assert logged == {k: row[k] for k in logged}
        assert set(logged) == {
            "current_price",
            "market_cap",
            "price_change_percentage_24h",
            "last_updated",
        }
    server.post("/_sim/reset").raise_for_status()
    assert server.get("/_sim/calls").json()["total"] == 0
    assert server.sim.served == []
