"""A local CoinGecko API v3 simulator serving SYNTHETIC prices, with fault injection for tests.

It serves what the product calls: `/coins/markets` (the ingest), `/coins/{id}/market_chart`
(history) and `/ping` (readiness probes), plus the control API under `/_sim/` (`sim_control`).
The state behind it is `sim_state.SimulatedCoinGecko`: one seeded price path per coin
(`sim_prices`) that quotes and charts both sample, the served log (`sim_served`), the fault
modes (`sim_faults`) and an optional per-minute rate limit (`sim_limits`, off by default).

Run it with `coingecko-sim --port 8765` or `python -m cryptostats_dev.simulator`; use it in-process
with `with SimulatorServer(port=0, seed=1) as srv: requests.get(f"{srv.url}/ping")`.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from cryptostats.logs import configure_logging
from cryptostats_dev.market import DEFAULT_EXTRA_COINS
from cryptostats_dev.sim_control import control_blueprint
from cryptostats_dev.sim_faults import Fault, error, fault_response
from cryptostats_dev.sim_limits import HEADER_STYLES, MinuteLimit, Throttled
from cryptostats_dev.sim_state import SimulatedCoinGecko, chart_call

_log = logging.getLogger("cryptostats_dev.simulator")

DEFAULT_PER_PAGE = 100
"""`/coins/markets` page size when `per_page` is absent."""

MAX_PER_PAGE = 250
"""Largest `per_page` CoinGecko accepts."""

MAX_CHART_DAYS = 365
"""History limit of keyless and Demo keys; a pro key (`x-cg-pro-api-key`) has none."""

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
_KEY_IN_TEXT = re.compile(r"(x_cg_\w+_api_key=)[^&\s\"']*", re.IGNORECASE)


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
    sim: SimulatedCoinGecko, *, base_path: str = "", shutdown: threading.Event | None = None
) -> Flask:
    """Build the app: CoinGecko paths under `base_path`, control paths under /_sim."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["coingecko_sim"] = sim
    stopping = shutdown or threading.Event()
    prefix = base_path.rstrip("/")
    api = Blueprint("coingecko", __name__, url_prefix=prefix or None)

    def data_call(view: Callable[[Fault | None], Any], chart: dict[str, Any] | None = None) -> Any:
        path = request.path.removeprefix(prefix)
        fault = sim.begin_call(path, request.headers.items(), request.args.keys())
        if isinstance(fault, Throttled):
            sim.record(path, 429, {}, "rate_limit_per_minute", chart)
            return fault.response()
        if fault is not None:
            early = fault_response(fault)
            if early is not None:
                sim.record(path, early[1], {}, fault, chart)
                return early
            if fault.mode == "slow":
                stopping.wait(fault.delay)
        return view(fault)

    @api.get("/ping")
    def ping() -> Any:
        return {"gecko_says": "(V3) To the Moon!"}

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
                return error(400, problem)
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
        raw_days = request.args.get("days", "")
        days = _days(raw_days)
        called = chart_call(coin_id, days) if days else {"coin": coin_id, "days": raw_days}

        def view(fault: Fault | None) -> Any:
            path = f"/coins/{coin_id}/market_chart"
            refusal = _chart_refusal(sim, coin_id, days, fault)
            if refusal is not None:
                sim.record(path, refusal[1], {}, fault, {**called, "points": 0})
                return refusal
            assert days is not None
            body = sim.market_chart(
                coin_id,
                days=days,
                daily=request.args.get("interval") == "daily",
                precision=request.args.get("precision"),
                fault=fault,
            )
            return jsonify(body)

        return data_call(view, {**called, "points": 0})

    app.register_blueprint(api)
    app.register_blueprint(control_blueprint(sim))
    _register_error_handlers(app)
    return app


def _chart_refusal(
    sim: SimulatedCoinGecko, coin_id: str, days: float | None, fault: Fault | None
) -> tuple[Response, int] | None:
    """Return the error a chart call gets, checked in CoinGecko's order: the coin comes first."""
    if not sim.knows(coin_id, fault):
        return error(404, "coin not found")
    if request.args.get("vs_currency", "").lower() != "usd":
        return error(400, "invalid vs_currency")
    if days is None:
        return error(400, "invalid days")
    if days > MAX_CHART_DAYS and not _pro_key():
        return jsonify(HISTORY_LIMIT_BODY), 401
    return None


def _pro_key() -> bool:
    """Whether the call carries a paid plan's key (header or query parameter)."""
    return "x-cg-pro-api-key" in request.headers or "x_cg_pro_api_key" in request.args


def _days(raw: str) -> float | None:
    if raw == "max":
        return float("inf")
    try:
        days = float(raw)
    except ValueError:
        return None
    return days if 0 < days < float("inf") else None


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def httperror(exc: HTTPException) -> Any:
        return error(exc.code or 500, (exc.name or "error").lower())

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        _log.error("simulator failed on %s", request.path, exc_info=True)
        return error(500, "internal server error")


class _RequestLog(WSGIRequestHandler):
    """Log requests at debug level without query strings, so API keys never reach a log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        _log.debug("%s %s -> %s", self.command, path, getattr(code, "value", code))

    def log(self, type: str, message: str, *args: Any) -> None:
        _log.info("%s", _KEY_IN_TEXT.sub(r"\1[redacted]", message % args if args else message))


class SimulatorServer:
    """Serve a SimulatedCoinGecko over HTTP from a background thread (a context manager)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        extra_coins: int = DEFAULT_EXTRA_COINS,
        base_path: str = "",
        rate_limit: MinuteLimit | None = None,
        sim: SimulatedCoinGecko | None = None,
    ) -> None:
        self.sim = sim or SimulatedCoinGecko(
            seed=seed, extra_coins=extra_coins, rate_limit=rate_limit
        )
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
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        metavar="N",
        help="answer 429 beyond N data calls per UTC minute (0, the default: no limit)",
    )
    parser.add_argument(
        "--rate-limit-headers",
        choices=HEADER_STYLES,
        default="reset",
        help="what the 429 says: x-ratelimit-* headers, Retry-After, or both",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.rate_limit < 0:
        parser.error("--rate-limit must be 0 (no limit) or a positive number of calls")
    return args


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
        rate_limit=MinuteLimit(args.rate_limit or None, args.rate_limit_headers),
    )
    with server:
        _log.warning(
            "coingecko-sim serving SYNTHETIC data (NOT real market prices) at %s "
            "(seed %d, %d coins, rate limit %s)",
            server.url,
            args.seed,
            len(server.sim.coin_ids),
            f"{args.rate_limit}/min" if args.rate_limit else "off",
        )
        while not stop.wait(0.5):
            pass
    _log.info("coingecko-sim stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
