"""CoinGecko client: one batched `/coins/markets` call per 250 coins, validated per coin."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from api_server.errors import UpstreamError
from cryptostats.config import CoinSpec, Settings
from cryptostats.logs import redact_secret

log = logging.getLogger(__name__)

PAGE_SIZE = 250
"""Most coins `/coins/markets` returns in one call (its per_page maximum)."""

CONNECT_TIMEOUT = 3.05
"""Seconds to open a connection to CoinGecko."""

READ_TIMEOUT = 10.0
"""Seconds to wait for CoinGecko's answer once connected."""

RETRIES = 3
"""Retries after the first attempt on 429, 5xx and connection errors."""

BACKOFF_FACTOR = 1.0
"""Exponential backoff base in seconds: 1, 2, 4 ... before jitter."""

BACKOFF_JITTER = 0.5
"""Up to this many random seconds added to each backoff."""

BACKOFF_MAX = 20.0
"""Longest single wait between attempts, whatever the server asks for."""


@dataclass(frozen=True)
class Quote:
    """A validated market observation of one tracked coin."""

    coin: str
    upstream_id: str
    symbol: str
    name: str
    price: float
    market_cap: float
    change_24h: float
    observed_at: datetime


@dataclass
class FetchResult:
    """What one fetch brought back: valid quotes, coins skipped with a reason, calls made."""

    quotes: list[Quote] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    calls: int = 0


class CoinGeckoClient:
    """Fetches market data for tracked coins from CoinGecko (or the project's simulator)."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.base_url = settings.coingecko_api_url
        self.session = session or build_session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "cryptostats/0.1"
        if settings.coingecko_api_key:
            redact_secret(settings.coingecko_api_key)
            self.session.headers[settings.api_key_header] = settings.coingecko_api_key
        self.source = urlparse(self.base_url).netloc

    def fetch(self, coins: tuple[CoinSpec, ...] | list[CoinSpec]) -> FetchResult:
        """Fetch and validate quotes for coins, one call per 250 upstream ids."""
        result = FetchResult()
        by_upstream: dict[str, list[CoinSpec]] = {}
        for spec in coins:
            by_upstream.setdefault(spec.upstream, []).append(spec)
        ids = list(by_upstream)
        rows: dict[str, Any] = {}
        for start in range(0, len(ids), PAGE_SIZE):
            page = ids[start : start + PAGE_SIZE]
            result.calls += 1
            try:
                page_rows = self._markets(page)
            except UpstreamError as exc:
                exc.calls = result.calls
                raise
            for row in page_rows:
                if isinstance(row, dict) and isinstance(row.get("id"), str):
                    rows[row["id"]] = row
        for upstream_id, specs in by_upstream.items():
            for spec in specs:
                row = rows.get(upstream_id)
                if row is None:
                    result.skipped[spec.public] = f"missing from upstream answer (id {upstream_id})"
                    continue
                try:
                    result.quotes.append(parse_market_row(spec, row))
                except ValueError as exc:
                    result.skipped[spec.public] = str(exc)
        return result

    def _markets(self, upstream_ids: list[str]) -> list[Any]:
        params = {
            "vs_currency": "usd",
            "ids": ",".join(upstream_ids),
            "per_page": str(PAGE_SIZE),
            "page": "1",
            "precision": "full",
        }
        url = f"{self.base_url}/coins/markets"
        try:
            response = self.session.get(url, params=params, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.exceptions.RetryError as exc:
            raise UpstreamError("retries_exhausted", _describe(exc)) from None
        except requests.exceptions.Timeout as exc:
            raise UpstreamError("timeout", _describe(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise UpstreamError("connection", _describe(exc)) from None
        return parse_markets_response(response)


def build_session() -> requests.Session:
    """Return a session that retries 429, 5xx and connection errors with backoff and jitter."""
    retry = Retry(
        total=RETRIES,
        connect=RETRIES,
        read=RETRIES,
        status=RETRIES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_jitter=BACKOFF_JITTER,
        backoff_max=BACKOFF_MAX,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_markets_response(response: requests.Response) -> list[Any]:
    """Return the rows of a `/coins/markets` answer, or raise UpstreamError for anything else."""
    if response.status_code == 429:
        raise UpstreamError("rate_limited", "HTTP 429 after retries")
    if response.status_code >= 500:
        raise UpstreamError("server_error", f"HTTP {response.status_code} after retries")
    if response.status_code != 200:
        raise UpstreamError("http_error", f"HTTP {response.status_code}")
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type:
        raise UpstreamError("not_json", f"answer is {content_type or 'untyped'}, not JSON")
    try:
        payload = response.json()
    except ValueError:
        raise UpstreamError("not_json", "answer is not valid JSON") from None
    if not isinstance(payload, list):
        raise UpstreamError("error_body", f"expected a list of coins, got {_sketch(payload)}")
    return payload


def parse_market_row(spec: CoinSpec, row: dict[str, Any]) -> Quote:
    """Validate one `/coins/markets` row, raising ValueError naming the bad field."""
    price = _number(row, "current_price")
    if price <= 0:
        raise ValueError(f"current_price must be positive, got {price}")
    market_cap = _number(row, "market_cap")
    if market_cap < 0:
        raise ValueError(f"market_cap must not be negative, got {market_cap}")
    change = _number(row, "price_change_percentage_24h")
    return Quote(
        coin=spec.public,
        upstream_id=spec.upstream,
        symbol=str(row.get("symbol") or "")[:20],
        name=str(row.get("name") or "")[:100],
        price=price,
        market_cap=market_cap,
        change_24h=change,
        observed_at=_timestamp(row.get("last_updated")),
    )


def _number(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is {_sketch(value)}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key} is {number}, not a finite number")
    return number


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"last_updated is {_sketch(value)}, not a timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"last_updated {value[:40]!r} is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sketch(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(exc: Exception) -> str:
    # Keep the exception class and reason but never the full URL with its query string.
    reason = getattr(exc, "args", [""])[0]
    return f"{type(exc).__name__}: {str(reason)[:200]}"
