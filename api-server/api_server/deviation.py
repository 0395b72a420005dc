"""The price deviation and its window, computed at ingest time, never on the request path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

DEVIATION_WINDOW = 100
"""How many of the newest records the deviation covers."""


def price_deviation(prices: Sequence[float]) -> float:
    """Return the population standard deviation of prices, rounded for display."""
    if not prices:
        raise ValueError("no prices")
    mean = math.fsum(prices) / len(prices)
    variance = math.fsum((p - mean) ** 2 for p in prices) / len(prices)
    return round_deviation(math.sqrt(variance))


def round_deviation(value: float) -> float:
    """Round to 2 decimals, or keep 6 significant digits for values below 1."""
    if value >= 1:
        return round(value, 2)
    return float(f"{value:.6g}")


def roll_window(
    window: Sequence[tuple[datetime, float]],
    observed_at: datetime,
    price: float,
    size: int = DEVIATION_WINDOW,
) -> tuple[tuple[datetime, float], ...]:
    """Return the newest `size` (observedAt, price) points after adding one, newest first."""
    points = sorted([*window, (observed_at, price)], key=lambda point: point[0], reverse=True)
    return tuple(points[:size])
