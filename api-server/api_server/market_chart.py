"""CoinGecko's `/coins/{id}/market_chart`: a coin's past prices, market caps and volumes.

The client shares the trigger path's machinery (coingecko.py): the same session with its
budgeted retries of 429, 5xx and timeouts, the same key header (never logged) and the same
error kinds, plus two answers only this endpoint gives, both about one coin:

- `unknown_coin`: 404 `{"error": "coin not found"}`, CoinGecko does not know the id;
- `history_limit`: 401 with `error_code` 10012, more than 365 days on a keyless or Demo plan.

A point is kept only when its price is positive and its market cap and volume are finite and
not negative, as for trigger records; a point with a null or missing value is dropped and
counted by reason, so nothing invalid is ever stored.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import requests

from api_server.coingecko import (
    FETCH_BUDGET_MAX,
    FETCH_BUDGET_SHARE,
    FetchBudget,
    build_session,
    identify,
    json_payload,
    upstream_get,
)
from api_server.errors import UpstreamError
from cryptostats.config import Settings

FREE_PLAN_MAX_DAYS = 365
"""Most days of history keyless and Demo plans may ask for (beyond: 401, error_code 10012)."""

HISTORY_LIMIT_CODE = 10012
"""CoinGecko's error_code for history beyond the plan's range."""

PER_COIN_KINDS = frozenset({"unknown_coin", "history_limit", "error_body"})
"""Error kinds about one coin: other coins may still be fetched."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SERIES = ("prices", "market_caps", "total_volumes")
"""The three arrays of a market chart answer, each of [ms, value] pairs."""


@dataclass(frozen=True)
class ChartPoint:
    """One validated point of a coin's market chart."""

    observed_at: datetime
    price: float
    market_cap: float
    volume_24h: float


@dataclass
class MarketChart:
    """A coin's validated points, oldest first, and how many were dropped, by reason."""

    upstream_id: str
    days: int
    points: list[ChartPoint] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


class MarketChartClient:
    """Fetches `/coins/{id}/market_chart?vs_currency=usd&days=N` for one coin at a time."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        budget: FetchBudget | None = None,
    ) -> None:
        self.base_url = settings.coingecko_api_url
        self.plan = settings.coingecko_api_plan if settings.coingecko_api_key else "keyless"
        # A backfill is not bound to the update interval: give each call the full budget.
        self.budget = budget or FetchBudget.for_interval(FETCH_BUDGET_MAX / FETCH_BUDGET_SHARE)
        self.session = identify(session or build_session(self.budget), settings)
        self.source = urlparse(self.base_url).netloc

    def fetch(self, upstream_id: str, days: int) -> MarketChart:
        """Fetch and validate `days` days of a coin's chart, or raise UpstreamError."""
        if days < 1:
            raise ValueError("days must be at least 1")
        if days > FREE_PLAN_MAX_DAYS and self.plan != "pro":
            raise UpstreamError(
                "history_limit", f"{self.plan} plans reach {FREE_PLAN_MAX_DAYS} days, not {days}"
            )
        url = f"{self.base_url}/coins/{upstream_id}/market_chart"
        params = {"vs_currency": "usd", "days": str(days), "precision": "full"}
        response = upstream_get(self.session, url, params, self.budget)
        return parse_market_chart(upstream_id, days, response)


def parse_market_chart(upstream_id: str, days: int, response: requests.Response) -> MarketChart:
    """Validate a market chart answer, raising UpstreamError for anything but chart data."""
    if response.status_code == 404:
        raise UpstreamError("unknown_coin", f"CoinGecko does not know the id {upstream_id!r}")
    if response.status_code == 401 and _error_code(response) == HISTORY_LIMIT_CODE:
        raise UpstreamError("history_limit", f"{days} days is beyond the plan's history range")
    payload = json_payload(response)
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(name), list) for name in SERIES
    ):
        raise UpstreamError("error_body", f"expected {', '.join(SERIES)} arrays")
    chart = MarketChart(upstream_id=upstream_id, days=days)
    prices = _series(payload["prices"], chart.dropped)
    caps = _series(payload["market_caps"], Counter())
    volumes = _series(payload["total_volumes"], Counter())
    for ms in sorted(prices):
        point, problem = _point(ms, prices[ms], caps, volumes)
        if point is None:
            chart.dropped[problem] += 1
        else:
            chart.points.append(point)
    return chart


def _series(entries: list[Any], dropped: Counter[str]) -> dict[int, Any]:
    """Map each entry's millisecond time to its raw value; malformed entries are counted."""
    values: dict[int, Any] = {}
    for entry in entries:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not _is_number(entry[0])
            or not math.isfinite(entry[0])
            or entry[0] <= 0
        ):
            dropped["malformed entry"] += 1
            continue
        values[int(entry[0])] = entry[1]
    return values


def _point(
    ms: int, price: Any, caps: dict[int, Any], volumes: dict[int, Any]
) -> tuple[ChartPoint | None, str]:
    if not _is_number(price) or not math.isfinite(price) or price <= 0:
        return None, "price not a positive number"
    for name, values in (("market cap", caps), ("volume", volumes)):
        if ms not in values:
            return None, f"{name} missing"
        value = values[ms]
        if value is None:
            return None, f"{name} null"
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            return None, f"{name} not a number >= 0"
    moment = EPOCH + timedelta(milliseconds=ms)
    return ChartPoint(moment, float(price), float(caps[ms]), float(volumes[ms])), ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _error_code(response: requests.Response) -> int | None:
    """Find `error_code` in CoinGecko's nested error bodies, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    for _ in range(3):
        if not isinstance(body, dict):
            return None
        status = body.get("status")
        if isinstance(status, dict) and isinstance(status.get("error_code"), int):
            return int(status["error_code"])
        body = body.get("error")
    return None
