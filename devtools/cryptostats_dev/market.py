"""The simulator's synthetic market: a coin catalogue and a seeded random walk per coin."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


class ObservationClock:
    """Hand out observation times that strictly increase, even within one millisecond."""

    def __init__(self, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._now_ms = now_ms
        self._last = 0
        self._lock = threading.Lock()

    def tick(self) -> int:
        """Return a time in ms later than every time returned before."""
        with self._lock:
            self._last = max(self._now_ms(), self._last + 1)
            return self._last


@dataclass
class CoinState:
    """Where one coin's walk stands now."""

    spec: CoinSpec
    rng: random.Random
    price: float
    open_24h: float
    high_24h: float
    low_24h: float
    turnover: float
    ath: float
    ath_ms: int
    atl: float
    atl_ms: int
    updated_ms: int = 0
    steps: int = field(default=0)

    @classmethod
    def start(cls, spec: CoinSpec, seed: int, now_ms: int) -> CoinState:
        """Place a coin at its catalogue price with a plausible 24h history."""
        rng = random.Random(f"{seed}:{spec.id}")
        open_24h = spec.price / (1 + rng.uniform(-15, 15) * spec.volatility)
        year_ms = 365 * DAY_MS
        return cls(
            spec=spec,
            rng=rng,
            price=spec.price,
            open_24h=open_24h,
            high_24h=max(spec.price, open_24h) * (1 + rng.uniform(0, 3) * spec.volatility),
            low_24h=min(spec.price, open_24h) * (1 - rng.uniform(0, 3) * spec.volatility),
            turnover=rng.uniform(0.01, 0.12),
            ath=spec.price * rng.uniform(1.02, 2.5),
            ath_ms=now_ms - rng.randrange(30 * DAY_MS, 4 * year_ms),
            atl=spec.price * rng.uniform(0.001, 0.5),
            atl_ms=now_ms - rng.randrange(5 * year_ms, 12 * year_ms),
            updated_ms=now_ms,
        )

    def step(self, now_ms: int) -> None:
        """Move the price one small random step and stamp it with `now_ms`."""
        vol = self.spec.volatility
        move = self.rng.gauss(0.0, vol)
        if self.spec.volatility < 0.001:  # stablecoins drift back to their peg
            move -= (self.price / self.spec.price - 1) * 0.5
        self.price *= math.exp(move)
        self.open_24h *= math.exp(self.rng.gauss(0.0, vol / 3))
        self.high_24h = max(self.high_24h, self.price)
        self.low_24h = min(self.low_24h, self.price)
        self.turnover = min(0.5, max(0.001, self.turnover * math.exp(self.rng.gauss(0, 0.02))))
        if self.price > self.ath:
            self.ath, self.ath_ms = self.price, now_ms
        if self.price < self.atl:
            self.atl, self.atl_ms = self.price, now_ms
        self.updated_ms = now_ms
        self.steps += 1

    @property
    def market_cap(self) -> float:
        return self.price * self.spec.circulating_supply

    @property
    def total_volume(self) -> float:
        return self.market_cap * self.turnover

    @property
    def change_24h(self) -> float:
        return self.price - self.open_24h

    @property
    def change_pct_24h(self) -> float:
        return (self.price / self.open_24h - 1) * 100


class Market:
    """All coins of the simulator and their walks; callers serialise access."""

    def __init__(self, *, seed: int, extra_coins: int, clock: ObservationClock) -> None:
        self.seed = seed
        self.clock = clock
        specs = [*KNOWN_COINS, *synthetic_coins(extra_coins, seed)]
        now = clock.tick()
        self.coins: dict[str, CoinState] = {s.id: CoinState.start(s, seed, now) for s in specs}

    def observe(self, ids: Iterable[str]) -> list[CoinState]:
        """Step each known coin among `ids` at one new observation time; unknown ids are skipped."""
        now = self.clock.tick()
        states = [self.coins[i] for i in dict.fromkeys(ids) if i in self.coins]
        for state in states:
            state.step(now)
        return states

    def ranks(self) -> dict[str, int]:
        """Return each coin's market-cap rank (1 = largest) at current prices."""
        ordered = sorted(self.coins.values(), key=lambda s: s.market_cap, reverse=True)
        return {state.spec.id: rank for rank, state in enumerate(ordered, start=1)}

    def chart(self, state: CoinState, days: float, daily: bool) -> list[tuple[int, float, float]]:
        """Return (ms, price, volume) points over `days`, ending at the coin's current state."""
        interval = _chart_interval(days, daily)
        end = state.updated_ms
        start = end - int(days * DAY_MS)
        first = -(-start // interval) * interval
        times = [*range(first, end, interval), end]
        rng = random.Random(f"{self.seed}:{state.spec.id}:chart:{len(times)}:{interval}")
        step_vol = state.spec.volatility * math.sqrt(interval / HOUR_MS)
        prices = [state.price]
        for _ in times[:-1]:
            prices.append(prices[-1] * math.exp(-rng.gauss(0.0, step_vol)))
        prices.reverse()
        return [
            (t, p, p * state.spec.circulating_supply * state.turnover * rng.uniform(0.8, 1.2))
            for t, p in zip(times, prices, strict=True)
        ]


def _chart_interval(days: float, daily: bool) -> int:
    if daily or days > 90:
        return DAY_MS
    if days <= 1:
        return FIVE_MINUTES_MS
    return HOUR_MS
