"""The simulator's coin catalogue (real and synthetic coins) and its time helpers."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_EXTRA_COINS = 1200
"""Synthetic coins `sim-coin-0001`.. added to the real catalogue, enough to track 1,000 ids."""

FIVE_MINUTES_MS = 5 * 60 * 1000
"""Granularity of `market_chart` for `days=1`."""

HOUR_MS = 60 * 60 * 1000
"""Granularity of `market_chart` for 2..90 days."""

DAY_MS = 24 * HOUR_MS
"""Granularity of `market_chart` beyond 90 days."""


@dataclass(frozen=True)
class CoinSpec:
    """A coin as listed by CoinGecko, with the values the walk starts from."""

    id: str
    symbol: str
    name: str
    price: float
    circulating_supply: float
    total_supply: float | None
    max_supply: float | None
    image: str
    volatility: float = 0.004
    """Standard deviation of one step of the walk (a fraction of the price)."""


def _image(number: int, slug: str) -> str:
    return f"https://coin-images.coingecko.com/coins/images/{number}/large/{slug}.png"


KNOWN_COINS: tuple[CoinSpec, ...] = (
    CoinSpec("bitcoin", "btc", "Bitcoin", 118_000.0, 19_900_000, 19_900_000, 21_000_000,
             _image(1, "bitcoin"), 0.003),
    CoinSpec("ethereum", "eth", "Ethereum", 3_700.0, 120_700_000, 120_700_000, None,
             _image(279, "ethereum"), 0.005),
    CoinSpec("tether", "usdt", "Tether", 1.0, 163_000_000_000, 163_000_000_000, None,
             _image(325, "Tether"), 0.0002),
    CoinSpec("ripple", "xrp", "XRP", 3.1, 59_200_000_000, 99_986_000_000, 100_000_000_000,
             _image(44, "xrp-symbol-white-128"), 0.006),
    CoinSpec("binancecoin", "bnb", "BNB", 780.0, 139_300_000, 139_300_000, 200_000_000,
             _image(825, "bnb-icon2_2x"), 0.004),
    CoinSpec("solana", "sol", "Solana", 180.0, 537_000_000, 605_000_000, None,
             _image(4128, "solana"), 0.006),
    CoinSpec("usd-coin", "usdc", "USDC", 1.0, 64_000_000_000, 64_000_000_000, None,
             _image(6319, "usdc"), 0.0002),
    CoinSpec("dogecoin", "doge", "Dogecoin", 0.22, 150_000_000_000, 150_000_000_000, None,
             _image(5, "dogecoin"), 0.008),
    CoinSpec("cardano", "ada", "Cardano", 0.78, 36_200_000_000, 45_000_000_000, 45_000_000_000,
             _image(975, "cardano"), 0.007),
    CoinSpec("tron", "trx", "TRON", 0.32, 94_800_000_000, 94_800_000_000, None,
             _image(1094, "tron-logo"), 0.004),
    CoinSpec("chainlink", "link", "Chainlink", 17.5, 678_000_000, 1_000_000_000, 1_000_000_000,
             _image(877, "chainlink-new-logo"), 0.007),
    CoinSpec("litecoin", "ltc", "Litecoin", 110.0, 76_000_000, 84_000_000, 84_000_000,
             _image(2, "litecoin"), 0.006),
    CoinSpec("polygon-ecosystem-token", "pol", "POL (ex-MATIC)", 0.23, 10_500_000_000,
             10_500_000_000, None, _image(32440, "polygon"), 0.008),
)  # fmt: skip
"""Real CoinGecko ids with plausible mid-2025 figures. `matic-network` is absent, as upstream."""


def synthetic_coins(count: int, seed: int) -> list[CoinSpec]:
    """Return `count` made-up coins `sim-coin-0001`.. with prices spread over many magnitudes."""
    rng = random.Random(f"{seed}:catalogue")
    coins = []
    for n in range(1, count + 1):
        price = 10 ** rng.uniform(-5, 3)
        # caps of 0.1M..5B keep the real coins at the top of the ranking
        supply = float(round(10 ** rng.uniform(5, 9.7) / price))
        coins.append(
            CoinSpec(
                id=f"sim-coin-{n:04d}",
                symbol=f"sc{n:04d}",
                name=f"Sim Coin {n:04d}",
                price=price,
                circulating_supply=supply,
                total_supply=supply * rng.choice((1.0, 1.0, 1.5, 2.0)),
                max_supply=rng.choice((None, supply * 2.0)),
                image=_image(900_000 + n, f"sim-coin-{n:04d}"),
                volatility=rng.uniform(0.002, 0.01),
            )
        )
    return coins


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds like CoinGecko's `last_updated`: 2025-07-25T14:53:12.345Z."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def wall_clock_ms() -> int:
    """Return the current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
