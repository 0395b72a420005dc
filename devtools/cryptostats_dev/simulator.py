"""A local CoinGecko API v3 simulator serving SYNTHETIC prices, with fault injection for tests.

Run it with `coingecko-sim --port 8765` or `python -m cryptostats_dev.simulator`; use it in-process
with `with SimulatorServer(port=0, seed=1) as srv: requests.get(f"{srv.url}/ping")`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from cryptostats.logs import configure_logging
from cryptostats_dev.market import (
    DEFAULT_EXTRA_COINS,
    CoinState,
    Market,
    ObservationClock,
    iso_ms,
    wall_clock_ms,
)

_log = logging.getLogger("cryptostats_dev.simulator")

FAULT_MODES = frozenset(
    {"rate_limit", "rate_limit_reset", "server_error", "slow", "html", "error_200"}
    | {"missing_coins", "null_fields"}
)
"""Fault modes `set_fault` and `POST /_sim/fault` accept."""

DEFAULT_RETRY_AFTER = 1
"""Seconds sent in `Retry-After` by the `rate_limit` fault."""

DEFAULT_SLOW_DELAY = 15.0
"""Seconds the `slow` fault waits before answering."""

MAX_SERVED_LOG = 1000
"""Entries kept in the served log; older ones are dropped."""

DEFAULT_PER_PAGE = 100
"""`/coins/markets` page size when `per_page` is absent."""

MAX_PER_PAGE = 250
"""Largest `per_page` CoinGecko accepts."""

MAX_CHART_DAYS = 365
"""History limit of the free plans."""

KEY_HEADERS = ("x-cg-pro-api-key", "x-cg-demo-api-key")
"""Header names that carry an API key; their values are never stored or logged."""

KEY_PARAMS = ("x_cg_pro_api_key", "x_cg_demo_api_key")
"""Query parameters that carry an API key."""

RATE_LIMIT_BODY = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher "
        "rate limits.",
    }
}
HISTORY_LIMIT_BODY = {
    "error": {
        "status": {
            "error_code": 10012,
            "error_message": "Your request exceeds the allowed time range. Public API users are "
            "limited to querying historical data within the past 365 days. Upgrade to a paid "
            "plan to enjoy full historical data access: https://www.coingecko.com/en/api/pricing.",
        }
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
_ORDERS: dict[str, tuple[Callable[[CoinState], Any], bool]] = {
    "market_cap_desc": (lambda s: s.market_cap, True),
    "market_cap_asc": (lambda s: s.market_cap, False),
    "volume_desc": (lambda s: s.total_volume, True),
    "volume_asc": (lambda s: s.total_volume, False),
    "id_asc": (lambda s: s.spec.id, False),
    "id_desc": (lambda s: s.spec.id, True),
}
_KEY_IN_TEXT = re.compile(r"(x_cg_\w+_api_key=)[^&\s\"']*", re.IGNORECASE)


@dataclasses.dataclass
class Fault:
    """A misbehaviour applied to the next `remaining` data calls (None: until cleared)."""

    mode: str
    remaining: int | None = None
    coins: frozenset[str] = frozenset()
    retry_after: int = DEFAULT_RETRY_AFTER
    delay: float = DEFAULT_SLOW_DELAY

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
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delay must be a non-negative number")
        return cls(mode, count, frozenset(coins), retry_after, float(delay))

    def to_json(self) -> dict[str, Any]:
        """Return the fault as `GET /_sim/fault` shows it."""
        return {**dataclasses.asdict(self), "coins": sorted(self.coins)}

    def nulls(self, coin_id: str) -> bool:
        return self.mode == "null_fields" and coin_id in self.coins

    def hides(self, coin_id: str) -> bool:
        return self.mode == "missing_coins" and coin_id in self.coins


class Simulator:
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

    def simple_price(
        self,
        ids: list[str],
        *,
        currencies: list[str],
        include: frozenset[str],
        precision: str | None,
        fault: Fault | None,
    ) -> dict[str, Any]:
        """Answer `/simple/price` for usd; other currencies give an empty object per coin."""
        with self._lock:
            states = self._market.observe(i for i in ids if not (fault and fault.hides(i)))
            body: dict[str, Any] = {}
            for state in states:
                nulls = bool(fault and fault.nulls(state.spec.id))
                body[state.spec.id] = (
                    _simple_entry(state, include, precision, nulls) if "usd" in currencies else {}
                )
            served = {
                s.spec.id: _served_values(s, precision, bool(fault and fault.nulls(s.spec.id)))
                for s in states
            }
            self._record("/simple/price", 200, served, fault)
            return body

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


def _simple_entry(
    state: CoinState, include: frozenset[str], precision: str | None, nulls: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {"usd": None if nulls else _price(state.price, precision)}
    if "market_cap" in include:
        entry["usd_market_cap"] = None if nulls else state.market_cap
    if "24hr_vol" in include:
        entry["usd_24h_vol"] = state.total_volume
    if "24hr_change" in include:
        entry["usd_24h_change"] = None if nulls else state.change_pct_24h
    if "last_updated_at" in include:
        entry["last_updated_at"] = state.updated_ms // 1000
    return entry


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


def _error(status: int, message: Any) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _fault_response(fault: Fault) -> tuple[Response, int] | None:
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
        return _error(500, "Internal Server Error")
    if fault.mode == "html":
        return Response(CLOUDFLARE_PAGE, mimetype="text/html"), 200
    if fault.mode == "error_200":
        return jsonify(WRONG_HOST_BODY), 200
    return None


def _csv(name: str) -> list[str]:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


def _int_arg(name: str, default: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def create_app(
    sim: Simulator, *, base_path: str = "", shutdown: threading.Event | None = None
) -> Flask:
    """Build the app: CoinGecko paths under `base_path`, control paths under /_sim."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["coingecko_sim"] = sim
    stopping = shutdown or threading.Event()
    prefix = base_path.rstrip("/")
    api = Blueprint("coingecko", __name__, url_prefix=prefix or None)

    def data_call(view: Callable[[Fault | None], Any]) -> Any:
        path = request.path.removeprefix(prefix)
        fault = sim.begin_call(path, request.headers.items(), request.args.keys())
        if fault is not None:
            early = _fault_response(fault)
            if early is not None:
                sim.record(path, early[1], {}, fault)
                return early
            if fault.mode == "slow":
                stopping.wait(fault.delay)
        return view(fault)

    @api.get("/ping")
    def ping() -> Any:
        return {"gecko_says": "(V3) To the Moon!"}

    @api.get("/simple/price")
    def simple_price() -> Any:
        def view(fault: Fault | None) -> Any:
            ids, currencies = _csv("ids"), [c.lower() for c in _csv("vs_currencies")]
            if not ids or not currencies:
                missing = "ids" if not ids else "vs_currencies"
                sim.record("/simple/price", 400, {}, fault)
                return _error(400, f"Missing parameter {missing}")
            flags = ("market_cap", "24hr_vol", "24hr_change", "last_updated_at")
            include = frozenset(
                f for f in flags if request.args.get(f"include_{f}", "").lower() == "true"
            )
            return jsonify(
                sim.simple_price(
                    ids,
                    currencies=currencies,
                    include=include,
                    precision=request.args.get("precision"),
                    fault=fault,
                )
            )

        return data_call(view)

    @api.get("/coins/markets")
    def coins_markets() -> Any:
        def view(fault: Fault | None) -> Any:
            per_page, page = _int_arg("per_page", DEFAULT_PER_PAGE), _int_arg("page", 1)
            problem = None
            if request.args.get("vs_currency", "").lower() != "usd":
                problem = "invalid vs_currency"
            elif per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
                problem = f"invalid per_page: valid values are 1...{MAX_PER_PAGE}"
            elif page is None or page < 1:
                problem = "invalid page"
            if problem or per_page is None or page is None:
                sim.record("/coins/markets", 400, {}, fault)
                return _error(400, problem)
            rows = sim.coins_markets(
                _csv("ids") if "ids" in request.args else None,
                order=request.args.get("order", "market_cap_desc"),
                per_page=per_page,
                page=page,
                precision=request.args.get("precision"),
                fault=fault,
            )
            return jsonify(rows)

        return data_call(view)

    @api.get("/coins/<coin_id>/market_chart")
    def market_chart(coin_id: str) -> Any:
        def view(fault: Fault | None) -> Any:
            path = f"/coins/{coin_id}/market_chart"
            days = _days(request.args.get("days", ""))
            if request.args.get("vs_currency", "").lower() != "usd" or days is None:
                sim.record(path, 400, {}, fault)
                return _error(400, "invalid vs_currency" if days else "invalid days")
            if days > MAX_CHART_DAYS:
                sim.record(path, 401, {}, fault)
                return jsonify(HISTORY_LIMIT_BODY), 401
            body = sim.market_chart(
                coin_id,
                days=days,
                daily=request.args.get("interval") == "daily",
                precision=request.args.get("precision"),
                fault=fault,
            )
            return _error(404, "coin not found") if body is None else jsonify(body)

        return data_call(view)

    app.register_blueprint(api)
    app.register_blueprint(_control_blueprint(sim))
    _register_error_handlers(app)
    return app


def _days(raw: str) -> float | None:
    if raw == "max":
        return float("inf")
    try:
        days = float(raw)
    except ValueError:
        return None
    return days if 0 < days < float("inf") else None


def _control_blueprint(sim: Simulator) -> Blueprint:
    control = Blueprint("sim_control", __name__, url_prefix="/_sim")

    @control.get("/calls")
    def calls() -> Any:
        counts = sim.calls
        return {
            "calls": counts,
            "total": sum(counts.values()),
            "last_key_header": sim.last_key_header,
        }

    @control.get("/served")
    def served() -> Any:
        return jsonify(sim.served)

    @control.post("/reset")
    def reset() -> Any:
        sim.reset()
        return {"reset": True}

    @control.get("/fault")
    def show_fault() -> Any:
        fault = sim.fault
        return {"fault": fault.to_json() if fault else None}

    @control.post("/fault")
    def set_fault() -> Any:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _error(400, "expected a JSON object")
        try:
            fault = Fault.from_json(payload)
        except ValueError as exc:
            return _error(400, str(exc))
        opts = {"coins": sorted(fault.coins), "retry_after": fault.retry_after}
        sim.set_fault(fault.mode, fault.remaining, delay=fault.delay, **opts)
        return {"fault": fault.to_json()}

    @control.delete("/fault")
    def clear_fault() -> Any:
        sim.clear_fault()
        return {"fault": None}

    return control


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return _error(exc.code or 500, (exc.name or "error").lower())

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        _log.error("simulator failed on %s", request.path, exc_info=True)
        return _error(500, "internal server error")


class _RequestLog(WSGIRequestHandler):
    """Log requests at debug level without query strings, so API keys never reach a log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        _log.debug("%s %s -> %s", self.command, path, getattr(code, "value", code))

    def log(self, type: str, message: str, *args: Any) -> None:
        _log.info("%s", _KEY_IN_TEXT.sub(r"\1[redacted]", message % args if args else message))


class SimulatorServer:
    """Serve a Simulator over HTTP from a background thread; use it as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        extra_coins: int = DEFAULT_EXTRA_COINS,
        base_path: str = "",
        sim: Simulator | None = None,
    ) -> None:
        self.sim = sim or Simulator(seed=seed, extra_coins=extra_coins)
        self.host = host
        self.base_path = base_path.rstrip("/")
        self._requested_port = port
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator server is not running")
        return self._server.server_port

    @property
    def url(self) -> str:
        """Base URL to use in place of https://api.coingecko.com/api/v3."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}{self.base_path}"

    def start(self) -> SimulatorServer:
        """Bind the socket and serve from a daemon thread."""
        app = create_app(self.sim, base_path=self.base_path, shutdown=self._stopping)
        self._server = make_server(
            self.host, self._requested_port, app, threaded=True, request_handler=_RequestLog
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.name = "coingecko-sim"
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, wake requests held by the `slow` fault, and close the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="coingecko-sim", description="Serve a SYNTHETIC CoinGecko API v3 for tests."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--coins",
        type=int,
        default=DEFAULT_EXTRA_COINS,
        help="synthetic coins sim-coin-0001.. to add to the real catalogue",
    )
    parser.add_argument("--base-path", default="", help='for example "/api/v3"')
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGTERM or SIGINT, then exit 0."""
    args = _parse_args(argv)
    configure_logging(args.log_level.upper())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = SimulatorServer(
        host=args.host,
        port=args.port,
        seed=args.seed,
        extra_coins=args.coins,
        base_path=args.base_path,
    )
    with server:
        _log.warning(
            "coingecko-sim serving SYNTHETIC data (NOT real market prices) at %s "
            "(seed %d, %d coins)",
            server.url,
            args.seed,
            len(server.sim.coin_ids),
        )
        while not stop.wait(0.5):
            pass
    _log.info("coingecko-sim stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
