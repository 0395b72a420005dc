"""CoinGecko client: one batched `/coins/markets` call per 250 coins, validated per coin."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from api_server.domain import CoinLabel, Observation
from api_server.errors import UpstreamError
from cryptostats.config import Settings, TrackedCoin
from cryptostats.logs import redact_secret

log = logging.getLogger(__name__)

PAGE_SIZE = 250
"""Most coins `/coins/markets` returns in one call (its per_page maximum)."""

CONNECT_TIMEOUT = 3.05
"""Seconds to open a connection to CoinGecko (less when the fetch budget is smaller)."""

READ_TIMEOUT = 10.0
"""Seconds to wait for CoinGecko's answer once connected (less when the fetch budget is smaller)."""

RETRIES = 3
"""Retries after the first attempt on 429, 5xx and connection errors."""

BACKOFF_FACTOR = 1.0
"""Exponential backoff base: urllib3 retries the first time at once, then waits 2, 4 ... s."""

BACKOFF_JITTER = 0.5
"""Up to this many random seconds added to each backoff."""

BACKOFF_MAX = 20.0
"""Longest single wait between attempts; a server asking for longer is not retried now."""

FETCH_BUDGET_MAX = 60.0
"""Most seconds one upstream call may take, retries and waits included."""

FETCH_BUDGET_SHARE = 0.5
"""Share of the update interval one upstream call may take, so a fetch never runs into the next."""


@dataclass(frozen=True)
class FetchBudget:
    """Time limits of one upstream call, derived from the update interval."""

    total: float
    connect: float
    read: float

    @classmethod
    def for_interval(cls, interval_seconds: float) -> FetchBudget:
        """Give a call at most half an interval (60 s at most), timeouts included."""
        total = min(FETCH_BUDGET_MAX, interval_seconds * FETCH_BUDGET_SHARE)
        return cls(
            total=total,
            connect=min(CONNECT_TIMEOUT, total * 0.2),
            read=min(READ_TIMEOUT, total * 0.4),
        )

    @property
    def attempt(self) -> float:
        """Longest one attempt can take (connect plus read timeout)."""
        return self.connect + self.read


class BudgetRetry(Retry):
    """urllib3's Retry, bounded by a time budget and aware of CoinGecko's rate-limit headers.

    - `Retry-After` is honoured; when absent, `x-ratelimit-reset` (a date or Unix time) is.
    - A wait the server asks for that is longer than `backoff_max`, or that would not leave room
      for one more attempt within the budget, ends the retries at once: the caller reports it and
      the next trigger tries again, rather than stalling the subscriber.
    - The budget starts at the first failed attempt and is cut by one attempt's worst time, so
      the whole call (first attempt included) stays within `budget.total`.

    `clock` and `sleep` are injectable so that tests never wait; `plan_wait` is the pure decision.
    """

    def __init__(
        self,
        *args: Any,
        budget: FetchBudget | None = None,
        deadline: float | None = None,
        planned_wait: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget or FetchBudget.for_interval(FETCH_BUDGET_MAX / FETCH_BUDGET_SHARE)
        self.deadline = deadline
        self.planned_wait = planned_wait
        self.clock = clock
        self.sleeper = sleep

    def new(self, **kw: Any) -> Self:
        kw.setdefault("budget", self.budget)
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("planned_wait", 0.0)
        kw.setdefault("clock", self.clock)
        kw.setdefault("sleep", self.sleeper)
        return super().new(**kw)

    def plan_wait(
        self, asked: float | None, now: float, deadline: float
    ) -> tuple[float, str | None]:
        """Return the wait before the next attempt and, when there must be none, why not."""
        wait = asked if asked is not None else self.get_backoff_time()
        if asked is not None and asked > self.backoff_max:
            return wait, f"server asks to wait {asked:.0f} s, more than {self.backoff_max:.0f} s"
        if now + wait > deadline:
            return wait, f"a wait of {wait:.1f} s does not fit the {self.budget.total:.0f} s budget"
        return wait, None

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """Seconds the server asks to wait: Retry-After, else x-ratelimit-reset, else None."""
        found = super().get_retry_after(response)
        if found is not None:
            return found
        return ratelimit_reset_seconds(response.headers.get("x-ratelimit-reset"))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """Count the failure, then give up when the next wait would not fit the budget."""
        now = self.clock()
        deadline = self.deadline
        if deadline is None:
            deadline = now + self.budget.total - self.budget.attempt
        # Raises when the retry counts are exhausted.
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        new_retry.deadline = deadline
        asked = self.get_retry_after(response) if response is not None else None
        wait, why = new_retry.plan_wait(asked, now, deadline)
        cause = f"HTTP {response.status}" if response is not None else _describe_reason(error)
        if why is not None:
            log.warning("upstream %s; not retrying: %s", cause, why)
            reason = error or ResponseError(f"{cause}; {why}")
            raise MaxRetryError(_pool, url, reason)  # type: ignore[arg-type]
        log.warning("upstream %s; retrying in %.1f s", cause, wait)
        new_retry.planned_wait = wait
        return new_retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Sleep the wait decided when the failure was counted."""
        if self.planned_wait > 0:
            self.sleeper(self.planned_wait)


def ratelimit_reset_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse `x-ratelimit-reset` ("2025-07-25 14:54:00 +0000", ISO 8601 or Unix seconds)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    current = time.time() if now is None else now
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            return None
        # Large numbers are a Unix time; small ones a number of seconds.
        return max(0.0, number - current) if number > 1e9 else max(0.0, number)
    for parse in (
        lambda t: datetime.strptime(t, "%Y-%m-%d %H:%M:%S %z"),
        lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")),
    ):
        try:
            moment = parse(text)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - current)
    return None


def _describe_reason(error: Exception | None) -> str:
    return "error" if error is None else type(error).__name__


@dataclass
class FetchResult:
    """What one fetch brought back: valid observations with the coins' labels, coins skipped
    with a reason, calls made."""

    observations: list[Observation] = field(default_factory=list)
    labels: dict[str, CoinLabel] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    calls: int = 0


class CoinGeckoClient:
    """Fetches market data for tracked coins from CoinGecko (or the project's simulator)."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = settings.coingecko_api_url
        self.budget = FetchBudget.for_interval(settings.update_interval_seconds)
        self.session = identify(
            session or build_session(self.budget, clock=clock, sleep=sleep), settings
        )
        self.source = urlparse(self.base_url).netloc

    def fetch(self, coins: tuple[TrackedCoin, ...] | list[TrackedCoin]) -> FetchResult:
        """Fetch and validate quotes for coins, one call per 250 upstream ids."""
        result = FetchResult()
        by_upstream: dict[str, list[TrackedCoin]] = {}
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
                    obs, label = parse_market_row(spec, row, self.source)
                except ValueError as exc:
                    result.skipped[spec.public] = str(exc)
                    continue
                result.observations.append(obs)
                result.labels[spec.public] = label
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
        return parse_markets_response(upstream_get(self.session, url, params, self.budget))


def identify(session: requests.Session, settings: Settings) -> requests.Session:
    """Set the JSON, user-agent and key headers on a session; the key is never logged."""
    session.headers["Accept"] = "application/json"
    session.headers["User-Agent"] = "cryptostats/0.1"
    if settings.coingecko_api_key:
        redact_secret(settings.coingecko_api_key)
        session.headers[settings.api_key_header] = settings.coingecko_api_key
    return session


def upstream_get(
    session: requests.Session, url: str, params: dict[str, str], budget: FetchBudget
) -> requests.Response:
    """GET within the budget's timeouts, turning transport failures into UpstreamError."""
    try:
        return session.get(url, params=params, timeout=(budget.connect, budget.read))
    except requests.exceptions.RetryError as exc:
        raise UpstreamError("retries_exhausted", _describe(exc)) from None
    except requests.exceptions.ConnectionError as exc:
        kind = "timeout" if _caused_by_read_timeout(exc) else "connection"
        raise UpstreamError(kind, _describe(exc)) from None
    except requests.exceptions.Timeout as exc:
        raise UpstreamError("timeout", _describe(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise UpstreamError("connection", _describe(exc)) from None


def build_session(
    budget: FetchBudget | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Session:
    """Return a session that retries 429, 5xx and connection errors with backoff and jitter."""
    retry = BudgetRetry(
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
        budget=budget,
        clock=clock,
        sleep=sleep,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_markets_response(response: requests.Response) -> list[Any]:
    """Return the rows of a `/coins/markets` answer, or raise UpstreamError for anything else."""
    payload = json_payload(response)
    if not isinstance(payload, list):
        raise UpstreamError("error_body", f"expected a list of coins, got {_sketch(payload)}")
    return payload


def json_payload(response: requests.Response) -> Any:
    """Return the JSON of a 200 answer, or raise UpstreamError naming what it is instead."""
    if response.status_code == 429:
        raise UpstreamError("rate_limited", f"HTTP 429{_wait_hint(response)}")
    if response.status_code >= 500:
        raise UpstreamError("server_error", f"HTTP {response.status_code} after retries")
    if response.status_code != 200:
        raise UpstreamError("http_error", f"HTTP {response.status_code}")
    content_type = response.headers.get("Content-Type", "")
    if "json" not in content_type:
        raise UpstreamError("not_json", f"answer is {content_type or 'untyped'}, not JSON")
    try:
        return response.json()
    except ValueError:
        raise UpstreamError("not_json", "answer is not valid JSON") from None


def parse_market_row(
    spec: TrackedCoin, row: dict[str, Any], source: str = ""
) -> tuple[Observation, CoinLabel]:
    """Validate one `/coins/markets` row, raising ValueError naming the bad field."""
    price = _number(row, "current_price")
    if price <= 0:
        raise ValueError(f"current_price must be positive, got {price}")
    market_cap = _number(row, "market_cap")
    if market_cap < 0:
        raise ValueError(f"market_cap must not be negative, got {market_cap}")
    change = _number(row, "price_change_percentage_24h")
    observation = Observation(
        coin=spec.public,
        observed_at=_timestamp(row.get("last_updated")),
        price=price,
        market_cap=market_cap,
        change_24h=change,
        source=source,
        volume_24h=_volume(row),
    )
    label = CoinLabel(
        symbol=str(row.get("symbol") or "")[:20], name=str(row.get("name") or "")[:100]
    )
    return observation, label


def _number(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is {_sketch(value)}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key} is {number}, not a finite number")
    return number


def _volume(row: dict[str, Any]) -> float | None:
    """Return `total_volume`, None when upstream has none (null or absent), else a number >= 0."""
    if row.get("total_volume") is None:
        return None
    volume = _number(row, "total_volume")
    if volume < 0:
        raise ValueError(f"total_volume must not be negative, got {volume}")
    return volume


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


def _wait_hint(response: requests.Response) -> str:
    asked = response.headers.get("Retry-After")
    if asked is not None:
        return f" (Retry-After: {asked[:40]})"
    reset = response.headers.get("x-ratelimit-reset")
    return f" (x-ratelimit-reset: {reset[:40]})" if reset else ""


def _caused_by_read_timeout(exc: requests.exceptions.ConnectionError) -> bool:
    # requests reports a read timeout that exhausted the retries as a ConnectionError.
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, ReadTimeoutError)


def _describe(exc: Exception) -> str:
    # Keep the exception class and reason but never the full URL with its query string.
    reason = getattr(exc, "args", [""])[0]
    return f"{type(exc).__name__}: {str(reason)[:200]}"
