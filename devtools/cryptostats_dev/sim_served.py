"""The simulator's served log: what each data call answered, so tests compare stored with served.

An entry is `{"path", "status", "fault", "coins"}`: `coins` maps each coin served to the figures a
consumer stores (`current_price`, `market_cap`, `price_change_percentage_24h`, `last_updated`).
A market chart call also has `chart`: `{"coin", "days", "points"}` and, when it served data, the
three arrays exactly as served (`prices`, `market_caps`, `total_volumes`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

MAX_SERVED_LOG = 1000
"""Entries kept in the served log; older ones are dropped."""

MAX_SERVED_POINTS = 500_000
"""Chart points (price points) kept in the served log; the oldest entries go first beyond it."""


class ServedLog:
    """What each data call served, oldest first, bounded in entries and in chart points."""

    def __init__(
        self, max_entries: int = MAX_SERVED_LOG, max_points: int = MAX_SERVED_POINTS
    ) -> None:
        self.max_entries = max_entries
        self.max_points = max_points
        self._entries: deque[dict[str, Any]] = deque()
        self._points = 0

    def append(self, entry: dict[str, Any]) -> None:
        """Add an entry, then drop the oldest ones while a bound is exceeded."""
        self._entries.append(entry)
        self._points += _points(entry)
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_entries or self._points > self.max_points
        ):
            self._points -= _points(self._entries.popleft())

    def entries(self) -> list[dict[str, Any]]:
        """Return the entries, oldest first."""
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._points = 0


def _points(entry: dict[str, Any]) -> int:
    chart = entry.get("chart")
    return int(chart["points"]) if chart else 0
