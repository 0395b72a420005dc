from __future__ import annotations

import statistics

import pytest

from api_server.stats import price_deviation, round_deviation


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
