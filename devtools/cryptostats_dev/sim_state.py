"""The simulated CoinGecko's state: its market, the calls it counted, what it served, its fault."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from cryptostats_dev.market import (
    DEFAULT_EXTRA_COINS,
    CoinState,
    Market,
    ObservationClock,
    iso_ms,
    wall_clock_ms,
)
from cryptostats_dev.sim_faults import Fault

_log = logging.getLogger("cryptostats_dev.simulator")

MAX_SERVED_LOG = 1000
"""Entries kept in the served log; older ones are dropped."""

KEY_HEADERS = ("x-cg-pro-api-key", "x-cg-demo-api-key")
"""Header names that carry an API key; their values are never stored or logged."""

KEY_PARAMS = ("x_cg_pro_api_key", "x_cg_demo_api_key")
"""Query parameters that carry an API key."""

_ORDERS: dict[str, tuple[Callable[[CoinState], Any], bool]] = {
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
    ) -> None:
        self.seed = seed
        self.extra_coins = extra_coins
        self._clock = ObservationClock(now_ms)
        self._lock = threading.Lock()
        self._market = Market(seed=seed, extra_coins=extra_coins, clock=self._clock)
        self._calls: Counter[str] = Counter()
        self._served: deque[dict[str, Any]] = deque(maxlen=MAX_SERVED_LOG)
        self._fault: Fault | None = None
        self.last_headers: dict[str, str] = {}
        self.last_key_header: str | None = None

    @property
    def coin_ids(self) -> list[str]:
        """Every known coin id, real ones first."""
        return list(self._market.coins)

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
        """What each data call served, oldest first."""
        with self._lock:
            return list(self._served)

    @property
    def fault(self) -> Fault | None:
        with self._lock:
            return dataclasses.replace(self._fault) if self._fault else None

    def reset(self) -> None:
        """Forget calls, served log and fault, and restart every coin from its catalogue price."""
        with self._lock:
            self._market = Market(seed=self.seed, extra_coins=self.extra_coins, clock=self._clock)
            self._calls.clear()
            self._served.clear()
            self._fault = None
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

    def begin_call(
        self, path: str, headers: Iterable[tuple[str, str]], params: Iterable[str] = ()
    ) -> Fault | None:
        """Count a data call, note its key header, and return the fault it gets, if any."""
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
            fault = self._fault
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            return dataclasses.replace(fault)

    def record(self, path: str, status: int, coins: dict[str, Any], fault: Fault | None) -> None:
        """Append one entry to the served log."""
        with self._lock:
            self._record(path, status, coins, fault)

    def _record(self, path: str, status: int, coins: dict[str, Any], fault: Fault | None) -> None:
        entry = {"path": path, "status": status, "fault": fault.mode if fault else None}
        self._served.append({**entry, "coins": coins})

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
        """Answer `/coins/markets` in usd: move the coins, sort them, return one page."""
        with self._lock:
            wanted = self._market.coins if ids is None else ids
            states = self._market.observe(i for i in wanted if not (fault and fault.hides(i)))
            key, descending = _ORDERS.get(order, _ORDERS["market_cap_desc"])
            states.sort(key=key, reverse=descending)
            ranks = self._market.ranks()
            shown = states[(page - 1) * per_page : page * per_page]
            rows = [
                _market_row(s, ranks[s.spec.id], precision, bool(fault and fault.nulls(s.spec.id)))
                for s in shown
            ]
            served = {row["id"]: {k: row[k] for k in _SERVED_FIELDS} for row in rows}
            self._record("/coins/markets", 200, served, fault)
            return rows

    def market_chart(
        self, coin_id: str, *, days: float, daily: bool, precision: str | None, fault: Fault | None
    ) -> dict[str, Any] | None:
        """Answer `/coins/{id}/market_chart`; None when the coin is unknown."""
        path = f"/coins/{coin_id}/market_chart"
        with self._lock:
            if coin_id not in self._market.coins or (fault and fault.hides(coin_id)):
                self._record(path, 404, {}, fault)
                return None
            [state] = self._market.observe([coin_id])
            points = self._market.chart(state, days, daily)
            nulls = bool(fault and fault.nulls(coin_id))
            supply = state.spec.circulating_supply
            body = {
                "prices": [[t, _price(p, precision)] for t, p, _ in points],
                "market_caps": [[t, None if nulls else p * supply] for t, p, _ in points],
                "total_volumes": [[t, v] for t, _, v in points],
            }
            self._record(path, 200, {coin_id: _served_values(state, precision, nulls)}, fault)
            return body


_SERVED_FIELDS = ("current_price", "market_cap", "price_change_percentage_24h", "last_updated")


def _price(value: float, precision: str | None) -> float:
    """Round a price as CoinGecko does for `precision` (None: its default display rounding)."""
    if precision == "full":
        return value
    if precision is not None and precision.isdigit() and int(precision) <= 18:
        return round(value, int(precision))
    return round(value, 2) if abs(value) >= 1 else float(f"{value:.6g}")


def _served_values(state: CoinState, precision: str | None, nulls: bool) -> dict[str, Any]:
    return {
        "current_price": None if nulls else _price(state.price, precision),
        "market_cap": None if nulls else state.market_cap,
        "price_change_percentage_24h": None if nulls else state.change_pct_24h,
        "last_updated": iso_ms(state.updated_ms),
    }


def _market_row(state: CoinState, rank: int, precision: str | None, nulls: bool) -> dict[str, Any]:
    spec, price = state.spec, state.price
    diluted_supply = spec.max_supply or spec.total_supply
    return {
        "id": spec.id,
        "symbol": spec.symbol,
        "name": spec.name,
        "image": spec.image,
        "current_price": None if nulls else _price(price, precision),
        "market_cap": None if nulls else state.market_cap,
        "market_cap_rank": rank,
        "fully_diluted_valuation": price * diluted_supply if diluted_supply else None,
        "total_volume": state.total_volume,
        "high_24h": _price(state.high_24h, precision),
        "low_24h": _price(state.low_24h, precision),
        "price_change_24h": state.change_24h,
        "price_change_percentage_24h": None if nulls else state.change_pct_24h,
        "market_cap_change_24h": state.change_24h * spec.circulating_supply,
        "market_cap_change_percentage_24h": state.change_pct_24h,
        "circulating_supply": spec.circulating_supply,
        "total_supply": spec.total_supply,
        "max_supply": spec.max_supply,
        "ath": _price(state.ath, precision),
        "ath_change_percentage": (price / state.ath - 1) * 100,
        "ath_date": iso_ms(state.ath_ms),
        "atl": _price(state.atl, precision),
        "atl_change_percentage": (price / state.atl - 1) * 100,
        "atl_date": iso_ms(state.atl_ms),
        "roi": None,
        "last_updated": iso_ms(state.updated_ms),
    }
