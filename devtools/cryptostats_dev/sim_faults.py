"""Fault modes of the CoinGecko simulator: what a misbehaving upstream answers instead of data.

Most modes replace the answer. `missing_coins` and `null_fields` change it for the listed coins;
`scattered_nulls` and `ragged_series` change market charts only, for the listed coins or, when
none is listed, for every coin: a share `ratio` of the points (the same points on every call)
gets a null market cap or volume, or is left out of `market_caps` / `total_volumes`, so the
three arrays differ in length (`ragged_series` also drops the newest market cap and the oldest
volume).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, jsonify

from cryptostats_dev.sim_prices import mix64

FAULT_MODES = frozenset(
    {"rate_limit", "rate_limit_reset", "server_error", "slow", "html", "error_200"}
    | {"missing_coins", "null_fields", "scattered_nulls", "ragged_series"}
)
"""Fault modes `set_fault` and `POST /_sim/fault` accept."""

DEFAULT_RETRY_AFTER = 1
"""Seconds sent in `Retry-After` by the `rate_limit` fault."""

DEFAULT_SLOW_DELAY = 15.0
"""Seconds the `slow` fault waits before answering."""

DEFAULT_RATIO = 0.1
"""Share of chart points the `scattered_nulls` and `ragged_series` faults touch."""

CHART_MODES = frozenset({"scattered_nulls", "ragged_series"})
"""Modes that change market charts only (every coin when `coins` is empty)."""

RATE_LIMIT_BODY = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher "
        "rate limits.",
    }
}
WRONG_HOST_BODY = {
    "status": {
        "error_code": 10011,
        "error_message": "If you are using Demo API key, please change your root URL from "
        "pro-api.coingecko.com to api.coingecko.com",
    }
}
CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title>
<meta charset="UTF-8" /></head>
<body><div id="cf-wrapper"><h1>Sorry, you have been blocked</h1>
<h2>You are unable to access coingecko.com</h2>
<p>Error 1020: Access denied. This website is using a security service to protect itself.</p>
<p>Cloudflare Ray ID: <strong>8a1b2c3d4e5f6a7b</strong></p></div></body></html>
"""


@dataclasses.dataclass
class Fault:
    """A misbehaviour applied to the next `remaining` data calls (None: until cleared)."""

    mode: str
    remaining: int | None = None
    coins: frozenset[str] = frozenset()
    retry_after: int = DEFAULT_RETRY_AFTER
    delay: float = DEFAULT_SLOW_DELAY
    ratio: float = DEFAULT_RATIO

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Fault:
        """Build a fault from `POST /_sim/fault` JSON; raise ValueError when it is malformed."""
        mode = payload.get("mode")
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {sorted(FAULT_MODES)}")
        count = payload.get("count")
        if count is not None and (type(count) is not int or count < 1):
            raise ValueError("count must be a positive integer or null")
        coins = payload.get("coins") or []
        if not isinstance(coins, list) or not all(isinstance(c, str) for c in coins):
            raise ValueError("coins must be a list of coin ids")
        retry_after = payload.get("retry_after", DEFAULT_RETRY_AFTER)
        delay = payload.get("delay", DEFAULT_SLOW_DELAY)
        if type(retry_after) is not int or retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer")
        if not _is_number(delay) or delay < 0:
            raise ValueError("delay must be a non-negative number")
        ratio = payload.get("ratio", DEFAULT_RATIO)
        if not _is_number(ratio) or not 0 <= ratio <= 1:
            raise ValueError("ratio must be a number from 0 to 1")
        return cls(mode, count, frozenset(coins), retry_after, float(delay), float(ratio))

    def to_json(self) -> dict[str, Any]:
        """Return the fault as `GET /_sim/fault` shows it."""
        return {**dataclasses.asdict(self), "coins": sorted(self.coins)}

    def nulls(self, coin_id: str) -> bool:
        return self.mode == "null_fields" and coin_id in self.coins

    def hides(self, coin_id: str) -> bool:
        return self.mode == "missing_coins" and coin_id in self.coins

    def shape_chart(self, coin_id: str, key: int, chart: dict[str, list[list[Any]]]) -> None:
        """Apply the fault to a coin's chart arrays in place (`key`: the coin's path key)."""
        if self.nulls(coin_id):
            chart["market_caps"] = [[t, None] for t, _ in chart["market_caps"]]
        if self.mode not in CHART_MODES or (self.coins and coin_id not in self.coins):
            return
        for salt, name in enumerate(("market_caps", "total_volumes"), start=1):
            hit = [self._picks(key + salt, entry[0]) for entry in chart[name]]
            if self.mode == "scattered_nulls":
                pairs = zip(chart[name], hit, strict=True)
                chart[name] = [[t, None if h else v] for (t, v), h in pairs]
                continue
            hit[-1 if name == "market_caps" else 0] = True
            chart[name] = [entry for entry, h in zip(chart[name], hit, strict=True) if not h]

    def _picks(self, key: int, ms: int) -> bool:
        return mix64(key ^ ms) < self.ratio * 2.0**64


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def error(status: int, message: Any) -> tuple[Response, int]:
    """Return a JSON error answer."""
    return jsonify({"error": message}), status


def fault_response(fault: Fault) -> tuple[Response, int] | None:
    """Return the early answer a fault gives instead of data, or None when data follows."""
    if fault.mode == "rate_limit":
        response = jsonify(RATE_LIMIT_BODY)
        response.headers["Retry-After"] = str(fault.retry_after)
        return response, 429
    if fault.mode == "rate_limit_reset":
        reset = datetime.now(UTC) + timedelta(seconds=1)
        response = jsonify(RATE_LIMIT_BODY)
        response.headers["x-ratelimit-limit"] = "30"
        response.headers["x-ratelimit-remaining"] = "0"
        response.headers["x-ratelimit-reset"] = reset.strftime("%Y-%m-%d %H:%M:%S +0000")
        return response, 429
    if fault.mode == "server_error":
        return error(500, "Internal Server Error")
    if fault.mode == "html":
        return Response(CLOUDFLARE_PAGE, mimetype="text/html"), 200
    if fault.mode == "error_200":
        return jsonify(WRONG_HOST_BODY), 200
    return None
