"""A rule-based assistant: plain-English questions about the tracked coins, answered from data.

Pure functions, no Flask and no store: `read_question` finds what is asked and about which coin,
`answer` words the reply from the data the caller looked up. Coins are recognised by public id,
CoinGecko id, symbol or name, on word boundaries only ("eth" is not found in "method").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api_server.domain import Snapshot
from api_server.history import Trend
from api_server.times import iso_time

DEFAULT_TREND_DAYS = 7
"""The window of a trend question that names none."""

MAX_TREND_DAYS = 365
"""The longest trend window (as /api/history)."""

EXAMPLES = (
    "What is the price of Bitcoin?",
    "What is the market cap of Ethereum?",
    "How much did ETH change in the last 24 hours?",
    "How volatile is bitcoin? (standard deviation)",
    "What is the volume of Ethereum?",
    "Show me the 7-day trend of Ethereum",
)
"""Questions the assistant answers, offered when it cannot tell what is asked."""

STOPWORDS = frozenset(
    "a an and are as at be by day days did do does for from has have how in is it its last me "
    "month my now of on or over past show tell than that the this to today trend up was week "
    "what whats when which who why will with year you".split()
)
"""Words of questions never taken for a coin symbol, whatever upstream calls a coin."""

MIN_ALIAS_LENGTH = 2
"""Shorter symbols or names are ignored: single letters match too much."""

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf" (?:{words}) "))
    for kind, words in (
        (
            "trend",
            r"trend|trends|history|historical|chart|over time|\d+ ?(?:days?|weeks?|months?|years?)"
            r"|(?:last|past|this) (?:week|month|year)|weekly|monthly",
        ),
        ("deviation", r"deviation|std|stdev|stddev|volatility|volatile|variance|spread"),
        ("volume", r"volume|volumes|turnover|traded"),
        ("market_cap", r"market cap|marketcap|market capitalization|capitalization|mcap|cap"),
        (
            "change_24h",
            r"24h|24 h|24 hours?|change|changed|changes|daily|today|up or down|gain|gained"
            r"|lose|lost|move|moved|movement|performance|performing",
        ),
        ("price", r"price|prices|worth|cost|costs|value|trading|trade|how much|quote|rate"),
    )
)


@dataclass(frozen=True)
class CoinNames:
    """The ways a tracked coin can be named in a question."""

    public: str
    upstream: str = ""
    symbol: str = ""
    name: str = ""

    def aliases(self) -> list[str]:
        """Return the normalised names of this coin worth matching."""
        found = []
        for kind, value in (
            ("id", self.public),
            ("id", self.upstream),
            ("symbol", self.symbol),
            ("name", self.name),
        ):
            alias = normalise(value)
            if len(alias) < MIN_ALIAS_LENGTH or alias.isdigit():
                continue
            if kind == "symbol" and alias in STOPWORDS:
                continue
            found.append(alias)
        return found


@dataclass(frozen=True)
class Question:
    """What a query asks: its kind, the coin (or None) and, for trends, the window in days."""

    type: str
    coin: str | None
    days: int = DEFAULT_TREND_DAYS


@dataclass(frozen=True)
class Answer:
    """The reply: its kind, the coin, a sentence and the figures behind it."""

    type: str
    coin: str | None
    answer: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of the answer."""
        return {"type": self.type, "coin": self.coin, "answer": self.answer, "data": self.data}


def normalise(text: str) -> str:
    """Lower-case, with every run of non-alphanumerics turned into one space."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def resolve_coin(query: str, coins: Sequence[CoinNames]) -> str | None:
    """Return the public id of the coin named first in the query (longest name wins a tie)."""
    text = f" {normalise(query)} "
    best: tuple[int, int, str] | None = None
    for coin in coins:
        for alias in coin.aliases():
            at = text.find(f" {alias} ")
            if at >= 0:
                candidate = (at, -len(alias), coin.public)
                if best is None or candidate < best:
                    best = candidate
    return None if best is None else best[2]


def classify(query: str) -> str | None:
    """Return what the query asks (price, market_cap, change_24h, deviation, volume, trend)."""
    text = f" {normalise(query)} "
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return kind
    return None


def trend_days(query: str) -> int:
    """Return the window a trend question names (7-day, 30 days, a week, a month), or 7."""
    text = normalise(query)
    number = re.search(r"\b(\d{1,6}) ?(day|days|week|weeks|month|months|year|years)\b", text)
    if number:
        count, unit = int(number.group(1)), number.group(2)
    else:
        unit_only = re.search(r"\b(day|week|month|year)\b", text)
        count, unit = 1, unit_only.group(1) if unit_only else "none"
    per_unit = {"day": 1, "week": 7, "month": 30, "year": 365}
    days = count * per_unit.get(unit.rstrip("s"), 0) or DEFAULT_TREND_DAYS
    return max(1, min(MAX_TREND_DAYS, days))


def read_question(query: str, coins: Sequence[CoinNames]) -> Question:
    """Work out what a query asks; a coin alone asks its price; no coin means help."""
    coin = resolve_coin(query, coins)
    kind = classify(query)
    if coin is None:
        return Question("help", None)
    if kind is None:
        kind = "price"
    return Question(kind, coin, trend_days(query) if kind == "trend" else DEFAULT_TREND_DAYS)


def help_answer(coins: Sequence[str], reason: str) -> Answer:
    """Explain what can be asked."""
    return Answer(
        "help",
        None,
        f"{reason} Ask about the price, market cap, 24-hour change, volume, price deviation or "
        f"N-day trend of a tracked coin ({', '.join(coins)}).",
        {"examples": list(EXAMPLES), "coins": list(coins)},
    )


def display_name(coin: str, snapshot: Snapshot | None) -> str:
    """Return "Bitcoin (BTC)", or the public id when upstream names are not known yet."""
    if snapshot is None or not snapshot.label.name:
        return coin
    label = snapshot.label
    return f"{label.name} ({label.symbol.upper()})" if label.symbol else label.name


def answer(question: Question, snapshot: Snapshot | None, trend: Trend | None = None) -> Answer:
    """Word the answer to a (non-help) question from the coin's snapshot and, for trends, trend."""
    coin = question.coin or ""
    who = display_name(coin, snapshot)
    if snapshot is None:
        return Answer(
            question.type,
            coin,
            f"There is no data for {who} yet; it is fetched on the next update.",
        )
    when = _when(snapshot)
    newest = snapshot.newest
    if question.type == "market_cap":
        text = f"{who} has a market cap of {usd_big(newest.market_cap)}{when}."
        return Answer("market_cap", coin, text, {"marketCap": newest.market_cap, **_at(snapshot)})
    if question.type == "change_24h":
        move = "up" if newest.change_24h >= 0 else "down"
        text = f"{who} is {move} {abs(newest.change_24h):.2f}% over the last 24 hours{when}."
        return Answer("change_24h", coin, text, {"24hChange": newest.change_24h, **_at(snapshot)})
    if question.type == "deviation":
        text = (
            f"The standard deviation of {who}'s price over its newest {snapshot.samples} "
            f"stored prices is {usd(snapshot.deviation)}."
        )
        data = {"deviation": snapshot.deviation, "samples": snapshot.samples, **_at(snapshot)}
        return Answer("deviation", coin, text, data)
    if question.type == "trend":
        return trend_answer(coin, who, question.days, trend)
    if question.type == "volume":
        return volume_answer(coin, who, snapshot)
    text = f"{who} is at {usd(newest.price)}{when}."
    return Answer("price", coin, text, {"price": newest.price, **_at(snapshot)})


def trend_answer(coin: str, who: str, days: int, trend: Trend | None) -> Answer:
    """Describe how the price moved over the trend's days."""
    if trend is None:
        text = f"No prices of {who} are stored for the last {days} days."
        return Answer("trend", coin, text, {"days": days, "points": 0})
    change = trend.change_percent
    direction = "rose" if change > 0 else "fell" if change < 0 else "held steady"
    text = (
        f"Over the last {days} days {who} {direction} from {usd(trend.first_price)} to "
        f"{usd(trend.last_price)} ({change:+.2f}%), across {trend.points} stored prices "
        f"(low {usd(trend.low)}, high {usd(trend.high)})."
    )
    data = {
        "days": days,
        "points": trend.points,
        "firstPrice": trend.first_price,
        "lastPrice": trend.last_price,
        "changePercent": round(change, 4),
        "low": trend.low,
        "high": trend.high,
        "firstTime": iso_time(trend.first_at),
        "lastTime": iso_time(trend.last_at),
    }
    return Answer("trend", coin, text, data)


def volume_answer(coin: str, who: str, snapshot: Snapshot) -> Answer:
    """Word the 24 h trading volume of the newest record (CoinGecko's total_volume)."""
    volume = snapshot.newest.volume_24h
    if volume is None:
        text = f"No trading volume of {who} is stored yet; it comes with the next update."
        return Answer("volume", coin, text, {"volume24h": None, **_at(snapshot)})
    text = f"{who} traded {usd_big(volume)} over the last 24 hours{_when(snapshot)}."
    return Answer("volume", coin, text, {"volume24h": volume, **_at(snapshot)})


def usd(value: float) -> str:
    """Format dollars: $67,000.12, or enough decimals to show a small price ($0.0001234)."""
    if value == 0 or abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = min(12, 3 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}".rstrip("0")
    return "$" + (text if len(text.split(".")[1]) >= 2 else f"{value:.2f}")


def usd_big(value: float) -> str:
    """Format a large dollar amount: $1.30 trillion, $512.40 million."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(value) >= size:
            return f"${value / size:,.2f} {word}"
    return usd(value)


def _when(snapshot: Snapshot) -> str:
    return f" (as of {iso_time(snapshot.observed_at)})"


def _at(snapshot: Snapshot) -> dict[str, Any]:
    return {"observedAt": iso_time(snapshot.observed_at)}
