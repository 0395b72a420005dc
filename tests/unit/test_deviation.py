from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from api_server.deviation import price_deviation, roll_window, round_deviation


def test_example_from_the_contract() -> None:
    assert price_deviation([40000, 45000, 50000]) == 4082.48


def test_one_record_gives_zero() -> None:
    assert price_deviation([123.45]) == 0


def test_population_not_sample_deviation() -> None:
    prices = [1.0, 2.0, 3.0, 4.0]
    assert price_deviation(prices) == round(statistics.pstdev(prices), 2)
    assert price_deviation(prices) != round(statistics.stdev(prices), 2)


def test_small_values_keep_six_significant_digits() -> None:
    prices = [0.000012345, 0.000012355, 0.000012399]
    expected = float(f"{statistics.pstdev(prices):.6g}")
    assert price_deviation(prices) == expected
    assert price_deviation(prices) != 0


@pytest.mark.parametrize(
    ("raw", "shown"), [(4082.4829, 4082.48), (1.005, 1.0), (0.123456789, 0.123457), (0.0, 0.0)]
)
def test_rounding(raw: float, shown: float) -> None:
    assert round_deviation(raw) == shown


def test_no_prices_is_an_error() -> None:
    with pytest.raises(ValueError):
        price_deviation([])


def test_roll_window_keeps_the_newest_points_newest_first() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    window = tuple((t0 + timedelta(minutes=m), float(m)) for m in (3, 2, 1))
    assert roll_window(window, t0 + timedelta(minutes=4), 4.0, size=3) == (
        (t0 + timedelta(minutes=4), 4.0),
        (t0 + timedelta(minutes=3), 3.0),
        (t0 + timedelta(minutes=2), 2.0),
    )
    late = roll_window(window, t0 + timedelta(minutes=1, seconds=30), 1.5, size=4)
    assert [price for _, price in late] == [3.0, 2.0, 1.5, 1.0]
    assert len(roll_window((), t0, 1.0)) == 1
