"""The simulator's market as ONE seeded price path per coin: a pure function of time.

`/coins/markets` samples it at its observation time and `/coins/{id}/market_chart` at its chart
times, so one moment has one price whatever asks for it, and reading it moves nothing.

- The log-price is fractal value noise: for each spacing from a second to a year, a seeded value
  per knot, interpolated linearly, with an amplitude that grows as the square root of the spacing
  (the coin's `volatility` is per hour), a few times more below two minutes (a ticker's jitter,
  so quotes a second apart differ by basis points). Stablecoins keep only the spacings up to a
  day, so they stay on their peg. The 24h volume turns over a seeded, slowly moving share of
  the market cap.
- Chart times are snapshots: one per 5-minute slot, taken 1-90 s into it (seeded per coin and
  slot), as CoinGecko's are never on the boundary. An hourly point is the first snapshot of its
  hour, so `days=1` and `days=2` share it. Daily points are at 00:00 UTC exactly, as in the
  example of CoinGecko's OpenAPI file. The last point of every chart is "now".
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptostats_dev.market import DAY_MS, FIVE_MINUTES_MS, HOUR_MS, CoinSpec

_MASK = (1 << 64) - 1

TICK_SPACINGS_MS = (1_000, 15_000, 60_000)
"""Knot spacings of the price's jitter within minutes: quotes a second apart differ."""

TICK_JITTER = 3.0
"""How much stronger than a walk's the jitter is: aggregated tickers jump by basis points."""

NOISE_SPACINGS_MS = (FIVE_MINUTES_MS, HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS)
"""Knot spacings of the price noise from 5 minutes up (stablecoins stop at a day)."""

LONG_SPACINGS_MS = (120 * DAY_MS, 365 * DAY_MS)
"""Knot spacings that only floating coins get: their moves over months and years."""

TURNOVER_SPACINGS_MS = (HOUR_MS, DAY_MS, 7 * DAY_MS)
"""Knot spacings of the noise of volume / market cap."""

TURNOVER_AMPLITUDE = 0.25
"""Amplitude of each turnover octave, in log units."""

PEGGED_VOLATILITY = 0.001
"""Coins with an hourly volatility below this are stablecoins."""

SNAPSHOT_OFFSET_MS = (1_000, 90_000)
"""Range of a 5-minute snapshot's delay after its slot starts."""

SLOTS_PER_HOUR = HOUR_MS // FIVE_MINUTES_MS

LISTED = {
    "bitcoin": "2013-04-28", "ethereum": "2015-08-07", "tether": "2015-02-25",
    "ripple": "2013-08-04", "binancecoin": "2017-09-16", "solana": "2020-04-11",
    "usd-coin": "2018-10-08", "dogecoin": "2013-12-15", "cardano": "2017-10-18",
    "tron": "2017-11-09", "chainlink": "2017-11-09", "litecoin": "2013-04-28",
    "polygon-ecosystem-token": "2023-10-25",
}  # fmt: skip
"""First day of CoinGecko's history of the real coins (`days=max` starts there)."""

SYNTHETIC_LISTED = ("2017-01-01", "2024-01-01")
"""Range of the first day of a synthetic coin's history."""


def _ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def mix64(value: int) -> int:
    """Scramble 64 bits (splitmix64's finaliser): a cheap, seedable hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@dataclass(frozen=True, slots=True)
class Octave:
    """One spacing of value noise: a seeded value in [-1, 1) per knot, times `amplitude`."""

    salt: int
    spacing_ms: int
    amplitude: float


_KNOT_STRIDE = 0xD1B54A32D192ED03
_SALT_STRIDE = 0xAEF17502108EF2D9


def _noise(key: int, octaves: tuple[Octave, ...], ms: int) -> float:
    """Sum the octaves at `ms`, each interpolated linearly between its two seeded knots."""
    total = 0.0
    for octave in octaves:
        knot, into = divmod(ms, octave.spacing_ms)
        left = key + knot * _KNOT_STRIDE + octave.salt * _SALT_STRIDE
        low = (mix64(left) >> 11) * 2.0**-52 - 1.0
        high = (mix64(left + _KNOT_STRIDE) >> 11) * 2.0**-52 - 1.0
        total += octave.amplitude * (low + (high - low) * into / octave.spacing_ms)
    return total


@dataclass(frozen=True)
class Quote:
    """A coin's figures at one moment, all sampled from its path."""

    spec: CoinSpec
    ms: int
    price: float
    total_volume: float
    open_24h: float
    high_24h: float
    low_24h: float
    ath: float
    ath_ms: int
    atl: float
    atl_ms: int

    @property
    def market_cap(self) -> float:
        return self.price * self.spec.circulating_supply

    @property
    def change_24h(self) -> float:
        return self.price - self.open_24h

    @property
    def change_pct_24h(self) -> float:
        return (self.price / self.open_24h - 1) * 100


@dataclass(frozen=True)
class ChartPoint:
    """One point of a market chart."""

    ms: int
    price: float
    market_cap: float
    total_volume: float


@dataclass(frozen=True)
class CoinPath:
    """One coin's price and volume as functions of time, fixed by the seed."""

    spec: CoinSpec
    key: int
    listed_ms: int
    turnover: float
    ath: float
    ath_ms: int
    atl: float
    atl_ms: int
    octaves: tuple[Octave, ...] = field(repr=False)
    turnover_octaves: tuple[Octave, ...] = field(repr=False)
    _hourly: dict[int, float] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, spec: CoinSpec, seed: int) -> CoinPath:
        """Derive a coin's path from the seed and its catalogue entry."""
        digest = hashlib.blake2b(f"{seed}:{spec.id}".encode(), digest_size=8).digest()
        rng = random.Random(f"{seed}:{spec.id}:path")
        pegged = spec.volatility < PEGGED_VOLATILITY
        slow = NOISE_SPACINGS_MS[:4] if pegged else NOISE_SPACINGS_MS + LONG_SPACINGS_MS
        spacings = TICK_SPACINGS_MS + slow
        # a value per knot in [-1, 1) has variance 1/3; knot to knot moves then match a walk
        scale = spec.volatility * math.sqrt(1.5)
        octaves = tuple(
            Octave(
                salt,
                s,
                scale * math.sqrt(s / HOUR_MS) * (TICK_JITTER if s in TICK_SPACINGS_MS else 1),
            )
            for salt, s in enumerate(spacings)
        )
        turnover_octaves = tuple(
            Octave(100 + salt, s, TURNOVER_AMPLITUDE) for salt, s in enumerate(TURNOVER_SPACINGS_MS)
        )
        listed = LISTED.get(spec.id)
        listed_ms = _ms(listed) if listed else _day_between(rng, *SYNTHETIC_LISTED)
        history_ms = _ms("2025-01-01") - listed_ms
        return cls(
            spec=spec,
            key=int.from_bytes(digest, "big"),
            listed_ms=listed_ms,
            turnover=rng.uniform(0.01, 0.12),
            ath=spec.price * rng.uniform(2.0, 3.0),
            ath_ms=listed_ms + int(history_ms * rng.uniform(0.5, 0.95)),
            atl=spec.price * rng.uniform(0.001, 0.3),
            atl_ms=listed_ms + int(history_ms * rng.uniform(0.0, 0.1)),
            octaves=octaves,
            turnover_octaves=turnover_octaves,
        )

    def price(self, ms: int) -> float:
        """Return the price at `ms` (epoch milliseconds)."""
        return self.spec.price * math.exp(_noise(self.key, self.octaves, ms))

    def total_volume(self, ms: int, price: float) -> float:
        """Return the 24h volume at `ms`, given the price then."""
        turnover = self.turnover * math.exp(_noise(self.key, self.turnover_octaves, ms))
        return price * self.spec.circulating_supply * turnover

    def point(self, ms: int) -> ChartPoint:
        """Sample price, market cap and volume at `ms`."""
        price = self.price(ms)
        cap = price * self.spec.circulating_supply
        return ChartPoint(ms, price, cap, self.total_volume(ms, price))

    def quote(self, ms: int) -> Quote:
        """Sample the figures of `/coins/markets` at `ms`; high and low over hourly snapshots."""
        price, open_24h = self.price(ms), self.price(ms - DAY_MS)
        day = [price, open_24h, *self._hourly_prices(ms - DAY_MS, ms)]
        return Quote(
            spec=self.spec,
            ms=ms,
            price=price,
            total_volume=self.total_volume(ms, price),
            open_24h=open_24h,
            high_24h=max(day),
            low_24h=min(day),
            ath=max(self.ath, price),
            ath_ms=ms if price > self.ath else min(self.ath_ms, ms),
            atl=min(self.atl, price),
            atl_ms=ms if price < self.atl else min(self.atl_ms, ms),
        )

    def _hourly_prices(self, start_ms: int, end_ms: int) -> list[float]:
        """Return the prices of the hourly snapshots in [start_ms, end_ms), remembered.

        Safe from several threads: at worst two compute the same price, or one recomputes a
        price another has just cleared.
        """
        times = self.times(start_ms, end_ms, HOUR_MS)
        remembered = self._hourly
        if len(remembered) > 4 * len(times):
            remembered.clear()
        prices = []
        for t in times:
            price = remembered.get(t)
            if price is None:
                price = remembered[t] = self.price(t)
            prices.append(price)
        return prices

    def snapshot_ms(self, slot: int) -> int:
        """Return when the snapshot of 5-minute slot `slot` (since the epoch) was taken."""
        low, high = SNAPSHOT_OFFSET_MS
        return slot * FIVE_MINUTES_MS + low + mix64(self.key ^ slot) % (high - low + 1)

    def times(self, start_ms: int, end_ms: int, step_ms: int) -> list[int]:
        """Return the sample times of one granularity in [start_ms, end_ms), oldest first."""
        if step_ms == DAY_MS:
            return list(range(-(-start_ms // DAY_MS) * DAY_MS, end_ms, DAY_MS))
        stride = step_ms // FIVE_MINUTES_MS
        slot = (start_ms // step_ms - 1) * stride
        times = []
        while (at := self.snapshot_ms(slot)) < end_ms:
            if at >= start_ms:
                times.append(at)
            slot += stride
        return times

    def chart(self, start_ms: int, now_ms: int, step_ms: int) -> list[ChartPoint]:
        """Return the chart from `start_ms` to now: the samples of a granularity, then now."""
        return [self.point(t) for t in (*self.times(start_ms, now_ms, step_ms), now_ms)]


def _day_between(rng: random.Random, first: str, last: str) -> int:
    return rng.randrange(_ms(first) // DAY_MS, _ms(last) // DAY_MS) * DAY_MS


def chart_step_ms(days: float, daily: bool) -> int:
    """Return the granularity CoinGecko picks for `days` (or `interval=daily`)."""
    if daily or days > 90:
        return DAY_MS
    return FIVE_MINUTES_MS if days <= 1 else HOUR_MS
