"""The simulated CoinGecko's answer shapes: `/coins/markets` rows and the figures it logs."""

from __future__ import annotations

from typing import Any

from cryptostats_dev.market import iso_ms
from cryptostats_dev.sim_prices import Quote

SERVED_FIELDS = ("current_price", "market_cap", "price_change_percentage_24h", "last_updated")
"""The figures of a coin the served log keeps: what a consumer stores."""


def price_value(value: float, precision: str | None) -> float:
    """Round a price as CoinGecko does for `precision` (None: its default display rounding)."""
    if precision == "full":
        return value
    if precision is not None and precision.isdigit() and int(precision) <= 18:
        return round(value, int(precision))
    return round(value, 2) if abs(value) >= 1 else float(f"{value:.6g}")


def served_values(quote: Quote, precision: str | None, nulls: bool) -> dict[str, Any]:
    """Return the served log's figures of a quote, as served."""
    return {
        "current_price": None if nulls else price_value(quote.price, precision),
        "market_cap": None if nulls else quote.market_cap,
        "price_change_percentage_24h": None if nulls else quote.change_pct_24h,
        "last_updated": iso_ms(quote.ms),
    }


def market_row(quote: Quote, rank: int, precision: str | None, nulls: bool) -> dict[str, Any]:
    """Return a `/coins/markets` row (`nulls`: the `null_fields` fault applies)."""
    spec, price = quote.spec, quote.price
    diluted_supply = spec.max_supply or spec.total_supply
    return {
        "id": spec.id,
        "symbol": spec.symbol,
        "name": spec.name,
        "image": spec.image,
        "current_price": None if nulls else price_value(price, precision),
        "market_cap": None if nulls else quote.market_cap,
        "market_cap_rank": rank,
        "fully_diluted_valuation": price * diluted_supply if diluted_supply else None,
        "total_volume": quote.total_volume,
        "high_24h": price_value(quote.high_24h, precision),
        "low_24h": price_value(quote.low_24h, precision),
        "price_change_24h": quote.change_24h,
        "price_change_percentage_24h": None if nulls else quote.change_pct_24h,
        "market_cap_change_24h": quote.change_24h * spec.circulating_supply,
        "market_cap_change_percentage_24h": quote.change_pct_24h,
        "circulating_supply": spec.circulating_supply,
        "total_supply": spec.total_supply,
        "max_supply": spec.max_supply,
        "ath": price_value(quote.ath, precision),
        "ath_change_percentage": (price / quote.ath - 1) * 100,
        "ath_date": iso_ms(quote.ath_ms),
        "atl": price_value(quote.atl, precision),
        "atl_change_percentage": (price / quote.atl - 1) * 100,
        "atl_date": iso_ms(quote.atl_ms),
        "roi": None,
        "last_updated": iso_ms(quote.ms),
    }
