"""The simulator's control API under /_sim/, for tests and the lab (never part of CoinGecko's).

- `GET /_sim/calls`: data calls received, by path, their total and the last key header's name;
- `GET /_sim/served`: the served log (see sim_served); `POST /_sim/reset` forgets calls, log,
  fault and the calls the rate limit counted;
- `GET|POST|DELETE /_sim/fault`: the fault applied to the next data calls (see sim_faults);
- `GET|POST|DELETE /_sim/rate_limit`: `{"per_minute": N|null, "headers": "reset"|"retry_after"|
  "both"}`, the per-minute limit (see sim_limits).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from cryptostats_dev.sim_faults import Fault, error
from cryptostats_dev.sim_limits import MinuteLimit
from cryptostats_dev.sim_state import SimulatedCoinGecko


def control_blueprint(sim: SimulatedCoinGecko) -> Blueprint:
    """Return the /_sim blueprint that drives `sim`."""
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
            return error(400, "expected a JSON object")
        try:
            fault = Fault.from_json(payload)
        except ValueError as exc:
            return error(400, str(exc))
        opts = fault.to_json()
        sim.set_fault(opts.pop("mode"), opts.pop("remaining"), **opts)
        return {"fault": fault.to_json()}

    @control.delete("/fault")
    def clear_fault() -> Any:
        sim.clear_fault()
        return {"fault": None}

    @control.get("/rate_limit")
    def show_rate_limit() -> Any:
        return {"rate_limit": sim.rate_limit.to_json()}

    @control.post("/rate_limit")
    def set_rate_limit() -> Any:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return error(400, "expected a JSON object")
        try:
            limit = MinuteLimit.from_json(payload)
        except ValueError as exc:
            return error(400, str(exc))
        sim.set_rate_limit(limit.per_minute, limit.headers)
        return {"rate_limit": limit.to_json()}

    @control.delete("/rate_limit")
    def clear_rate_limit() -> Any:
        return {"rate_limit": sim.set_rate_limit(None).to_json()}

    return control
