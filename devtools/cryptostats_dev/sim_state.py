"""The simulated CoinGecko's state: its market, the calls it counted, what it served, its fault.

The market is one seeded price path per coin (`sim_prices`): quotes and charts sample it and
nothing moves it, so `reset` forgets calls, the served log, the fault and the calls counted by
the per-minute limit, and every price stays where the path has it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptostats_dev.market import (
    DAY_MS,
    DEFAULT_EXTRA_COINS,
    KNOWN_COINS,
    CoinSpec,
    synthetic_coins,
    wall_clock_ms,
)
from cryptostats_dev.sim_faults import Fault
from cryptostats_dev.sim_limits import MinuteLimit, Throttled
from cryptostats_dev.sim_prices import CoinPath, chart_step_ms
from cryptostats_dev.sim_rows import SERVED_FIELDS, market_row, price_value, served_values
from cryptostats_dev.sim_served import ServedLog

_log = logging.getLogger("cryptostats_dev.simulator")

RANK_PERIOD_MS = 60_000
"""How often `market_cap_rank` is recomputed (ranks are as of the start of the minute)."""

KEY_HEADERS = ("x-cg-pro-api-key", "x-cg-demo-api-key")
"""Header names that carry an API key; their values are never stored or logged."""

KEY_PARAMS = ("x_cg_pro_api_key", "x_cg_demo_api_key")
"""Query parameters that carry an API key."""

_ORDERS: dict[str, tuple[Callable[[_Figures], Any], bool]] = {
    "market_cap_desc": (lambda s: s.market_cap, True),
    "market_cap_asc": (lambda s: s.market_cap, False),
    "volume_desc": (lambda s: s.total_volume, True),
    "volume_asc": (lambda s: s.total_volume, False),
    "id_asc": (lambda s: s.spec.id, False),
    "id_desc": (lambda s: s.spec.id, True),
}


class SimulatedCoinGecko:
    """State behind the simulated API: the market, call counts, the served log and the fault."""

    def __init__(
        self,
        *,
        seed: int = 0,
        extra_coins: int = DEFAULT_EXTRA_COINS,
        now_ms: Callable[[], int] = wall_clock_ms,
        rate_limit: MinuteLimit | None = None,
    ) -> None:
        self.seed = seed
        self.extra_coins = extra_coins
        self._now_ms = now_ms
        self._last_ms = 0
        self._lock = threading.Lock()
        specs = [*KNOWN_COINS, *synthetic_coins(extra_coins, seed)]
        self._paths = {spec.id: CoinPath.build(spec, seed) for spec in specs}
        self._calls: Counter[str] = Counter()
        self._served = ServedLog()
        self._fault: Fault | None = None
        self._limit = rate_limit or MinuteLimit()
        self._ranked: tuple[int, dict[str, int]] = (-1, {})
        self.last_headers: dict[str, str] = {}
        self.last_key_header: str | None = None

    @property
    def coin_ids(self) -> list[str]:
        """Every known coin id, real ones first."""
        return list(self._paths)

    @property
    def calls(self) -> dict[str, int]:
        """Data calls received so far, by path."""
        with self._lock:
            return dict(self._calls)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    @property
    def served(self) -> list[dict[str, Any]]:
        """What each data call served, oldest first (see sim_served)."""
        with self._lock:
            return self._served.entries()

    @property
    def fault(self) -> Fault | None:
        with self._lock:
            return dataclasses.replace(self._fault) if self._fault else None

    @property
    def rate_limit(self) -> MinuteLimit:
        with self._lock:
            return dataclasses.replace(self._limit)

    def price_at(self, coin_id: str, ms: int) -> float:
        """Return a coin's price on the path at `ms` (epoch milliseconds), unrounded."""
        return self._paths[coin_id].price(ms)

    def reset(self) -> None:
        """Forget calls, the served log, the fault and the calls the rate limit counted."""
        with self._lock:
            self._calls.clear()
            self._served.clear()
            self._fault = None
            self._limit.forget()
            self.last_headers, self.last_key_header = {}, None

    def set_fault(self, mode: str, count: int | None = None, **opts: Any) -> Fault:
        """Apply fault `mode` to the next `count` data calls (None: until cleared)."""
        fault = Fault.from_json({"mode": mode, "count": count, **opts})
        with self._lock:
            self._fault = fault
        _log.info("fault set: %s", fault.to_json())
        return fault

    def clear_fault(self) -> None:
        """Stop injecting faults."""
        with self._lock:
            self._fault = None

    def set_rate_limit(self, per_minute: int | None, headers: str = "reset") -> MinuteLimit:
        """Refuse data calls beyond `per_minute` per UTC minute with a 429 (None: no limit)."""
        limit = MinuteLimit.from_json({"per_minute": per_minute, "headers": headers})
        with self._lock:
            self._limit = limit
        _log.info("rate limit set: %s", limit.to_json())
        return limit

    def begin_call(
        self, path: str, headers: Iterable[tuple[str, str]], params: Iterable[str] = ()
    ) -> Fault | Throttled | None:
        """Count a data call and note its key header; return its refusal or fault, if any."""
        names = {name.lower(): value for name, value in headers}
        param_names = set(params)
        key_names = [h for h in KEY_HEADERS if h in names]
        key_names += [p for p in KEY_PARAMS if p in param_names]
        with self._lock:
            self._calls[path] += 1
            self.last_headers = {
                n: "[redacted]" if n in KEY_HEADERS else v for n, v in names.items()
            }
            self.last_key_header = key_names[0] if key_names else None
            throttled = self._limit.admit(self._now_ms())
            if throttled is not None:
                return throttled
            fault = self._fault
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            return dataclasses.replace(fault)

    def record(
        self,
        path: str,
        status: int,
        coins: dict[str, Any],
        fault: Fault | str | None,
        chart: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to the served log (`fault`: a Fault or the name of a refusal)."""
        with self._lock:
            self._record(path, status, coins, fault, chart)

    def _record(
        self,
        path: str,
        status: int,
        coins: dict[str, Any],
        fault: Fault | str | None,
        chart: dict[str, Any] | None = None,
    ) -> None:
        mode = fault.mode if isinstance(fault, Fault) else fault
        entry = {"path": path, "status": status, "fault": mode, "coins": coins}
        self._served.append({**entry, "chart": chart} if chart is not None else entry)

    def _tick(self) -> int:
        """Return an observation time later than every one before (callers hold the lock)."""
        self._last_ms = max(self._now_ms(), self._last_ms + 1)
        return self._last_ms

    def coins_markets(
        self,
        ids: list[str] | None,
        *,
        order: str,
        per_page: int,
        page: int,
        precision: str | None,
        fault: Fault | None,
    ) -> list[dict[str, Any]]:
        """Answer `/coins/markets` in usd: sample the coins now, sort them, return one page."""
        with self._lock:
            now = self._tick()
            wanted = self._paths if ids is None else ids
            shown = [
                self._figures(i, now)
                for i in dict.fromkeys(wanted)
                if i in self._paths and not (fault and fault.hides(i))
            ]
            key, descending = _ORDERS.get(order, _ORDERS["market_cap_desc"])
            shown.sort(key=key, reverse=descending)
            ranks = self._ranks(now)
            rows = [
                market_row(
                    self._paths[f.spec.id].quote(now),
                    ranks[f.spec.id],
                    precision,
                    bool(fault and fault.nulls(f.spec.id)),
                )
                for f in shown[(page - 1) * per_page : page * per_page]
            ]
            served = {row["id"]: {k: row[k] for k in SERVED_FIELDS} for row in rows}
            self._record("/coins/markets", 200, served, fault)
            return rows

    def _figures(self, coin_id: str, now: int) -> _Figures:
        path = self._paths[coin_id]
        price = path.price(now)
        cap = price * path.spec.circulating_supply
        return _Figures(path.spec, cap, path.total_volume(now, price))

    def _ranks(self, now: int) -> dict[str, int]:
        """Return every coin's market-cap rank (1 = largest) as of the minute of `now`."""
        minute = now // RANK_PERIOD_MS * RANK_PERIOD_MS
        if self._ranked[0] != minute:
            caps = {i: p.price(minute) * p.spec.circulating_supply for i, p in self._paths.items()}
            ordered = sorted(caps, key=caps.__getitem__, reverse=True)
            self._ranked = (minute, {coin: rank for rank, coin in enumerate(ordered, start=1)})
        return self._ranked[1]

    def knows(self, coin_id: str, fault: Fault | None) -> bool:
        """Whether `coin_id` is listed (and not hidden by the `missing_coins` fault)."""
        return coin_id in self._paths and not (fault and fault.hides(coin_id))

    def market_chart(
        self, coin_id: str, *, days: float, daily: bool, precision: str | None, fault: Fault | None
    ) -> dict[str, Any]:
        """Answer `/coins/{id}/market_chart` for a known coin: samples of its path up to now."""
        path = self._paths[coin_id]
        with self._lock:
            now = max(self._now_ms(), self._last_ms)
        start = path.listed_ms if days == float("inf") else now - int(days * DAY_MS)
        points = path.chart(max(start, path.listed_ms), now, chart_step_ms(days, daily))
        body: dict[str, list[list[Any]]] = {
            "prices": [[p.ms, price_value(p.price, precision)] for p in points],
            "market_caps": [[p.ms, p.market_cap] for p in points],
            "total_volumes": [[p.ms, p.total_volume] for p in points],
        }
        if fault is not None:
            fault.shape_chart(coin_id, path.key, body)
        nulls = bool(fault and fault.nulls(coin_id))
        served = {coin_id: served_values(path.quote(now), precision, nulls)}
        chart = {**chart_call(coin_id, days), "points": len(points), **body}
        self.record(f"/coins/{coin_id}/market_chart", 200, served, fault, chart)
        return body


def chart_call(coin_id: str, days: float) -> dict[str, Any]:
    """Name a market chart call in the served log: its coin and days (`max`, or a number)."""
    label: Any = "max" if days == float("inf") else int(days) if days.is_integer() else days
    return {"coin": coin_id, "days": label}


@dataclass(frozen=True)
class _Figures:
    """What `/coins/markets` sorts a coin by, at one moment."""

    spec: CoinSpec
    market_cap: float
    total_volume: float
