"""Call a SimulatedCoinGecko through its Flask app (the test client), and move its clock by hand."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse

from cryptostats_dev.sim_state import SimulatedCoinGecko
from cryptostats_dev.simulator import create_app


@dataclass
class Answer:
    """What a test reads of a response, named as in requests."""

    status_code: int
    headers: Headers
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        assert self.status_code < 400, f"HTTP {self.status_code}: {self.text}"


class SimClient:
    """A SimulatedCoinGecko behind its app, called through Flask's test client."""

    def __init__(self, sim: SimulatedCoinGecko, base_path: str = "") -> None:
        self.sim = sim
        self.prefix = base_path.rstrip("/")
        self.slow_waits = threading.Event()
        app = create_app(sim, base_path=base_path, shutdown=self.slow_waits)
        self.client = app.test_client()

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Answer:
        response = self.client.get(self._url(path), query_string=params, headers=headers)
        return self._answer(response)

    def post(self, path: str, json: Any = None) -> Answer:
        return self._answer(self.client.post(self._url(path), json=json))

    def delete(self, path: str) -> Answer:
        return self._answer(self.client.delete(self._url(path)))

    def _url(self, path: str) -> str:
        return path if path.startswith("/_sim/") else self.prefix + path

    @staticmethod
    def _answer(response: TestResponse) -> Answer:
        return Answer(response.status_code, response.headers, response.get_data(as_text=True))


class ManualClock:
    """A wall clock in epoch milliseconds that moves only when a test moves it."""

    def __init__(self, at: datetime) -> None:
        self.ms = int(at.timestamp() * 1000)

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


T0 = datetime(2026, 3, 10, 12, 0, 10, 250000, tzinfo=UTC)
"""A moment for simulators on a manual clock: 10.25 s past a whole minute."""
