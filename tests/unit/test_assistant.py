from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from api_server.assistant import (
    CoinNames,
    Question,
    answer,
    classify,
    help_answer,
    read_question,
    resolve_coin,
    trend_days,
    usd,
    usd_big,
)
from api_server.backfill import BackfillRecord
from api_server.buckets import merge
from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.history import trend_of

COINS = [
    CoinNames("bitcoin", "bitcoin", "btc", "Bitcoin"),
    CoinNames("ethereum", "ethereum", "eth", "Ethereum"),
    CoinNames("matic-network", "polygon-ecosystem-token", "pol", "POL (ex-MATIC)"),
]
AT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def snapshot(coin: str = "bitcoin", price: float = 67000.123, change: float = 3.4) -> Snapshot:
    return Snapshot(
        newest=Observation(coin, AT, price, 1.3e12, change, "api.coingecko.com"),
        deviation=12.3,
        samples=100,
        updated_at=AT,
        label=CoinLabel(symbol="btc", name="Bitcoin"),
    )


@pytest.mark.parametrize(
    ("query", "coin"),
    [
        ("What is the price of Bitcoin?", "bitcoin"),
        ("price of BTC", "bitcoin"),
        ("eth?", "ethereum"),
        ("how is matic-network doing", "matic-network"),
        ("polygon ecosystem token price", "matic-network"),
        ("POL price", "matic-network"),
        ("compare ethereum and bitcoin", "ethereum"),
        ("What is the best method to buy?", None),
        ("is polish food good", None),
        ("bitcoins", None),
        ("btcusd", None),
        ("", None),
    ],
)
def test_resolve_coin_on_word_boundaries(query: str, coin: str | None) -> None:
    assert resolve_coin(query, COINS) == coin


def test_symbols_that_are_question_words_are_ignored() -> None:
    coins = [CoinNames("the-coin", "the-coin", "the", "Coin Of The")]
    assert resolve_coin("what is the price", coins) is None
    assert resolve_coin("the-coin price", coins) == "the-coin"


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("What is the price of Bitcoin?", "price"),
        ("how much is eth worth", "price"),
        ("market cap of ethereum", "market_cap"),
        ("ETH marketcap", "market_cap"),
        ("How much did ETH change in the last 24 hours?", "change_24h"),
        ("btc 24h", "change_24h"),
        ("how volatile is bitcoin", "deviation"),
        ("standard deviation of btc", "deviation"),
        ("Show me the 7-day trend of Ethereum", "trend"),
        ("bitcoin over the last 30 days", "trend"),
        ("bitcoin this week", "trend"),
        ("bitcoin", None),
    ],
)
def test_classify(query: str, kind: str | None) -> None:
    assert classify(query) == kind


@pytest.mark.parametrize(
    ("query", "days"),
    [
        ("7-day trend", 7),
        ("trend over 30 days", 30),
        ("2 weeks trend", 14),
        ("last month", 30),
        ("a year of history", 365),
        ("trend", 7),
        ("1000 days", 365),
        ("0 days", 7),
    ],
)
def test_trend_days(query: str, days: int) -> None:
    assert trend_days(query) == days


def test_read_question() -> None:
    assert read_question("bitcoin", COINS) == Question("price", "bitcoin")
    assert read_question("price please", COINS) == Question("help", None)
    assert read_question("Show me the 30-day trend of ETH", COINS) == Question(
        "trend", "ethereum", 30
    )


def test_price_answer() -> None:
    reply = answer(Question("price", "bitcoin"), snapshot())
    assert reply.type == "price" and reply.coin == "bitcoin"
    assert reply.answer.startswith("Bitcoin (BTC) is at $67,000.12")
    assert reply.data == {"price": 67000.123, "observedAt": "2026-11-23T14:00:00.000Z"}


def test_other_answers() -> None:
    cap = answer(Question("market_cap", "bitcoin"), snapshot())
    assert "$1.30 trillion" in cap.answer and cap.data["marketCap"] == 1.3e12
    down = answer(Question("change_24h", "bitcoin"), snapshot(change=-2.5))
    assert "down 2.50%" in down.answer and down.data["24hChange"] == -2.5
    dev = answer(Question("deviation", "bitcoin"), snapshot())
    assert "$12.30" in dev.answer and dev.data["samples"] == 100


def test_trend_answer() -> None:
    series = [
        merge(
            None, BackfillRecord("ethereum", AT - timedelta(days=6 - i), price, 1.0, 2.0, "t"), "1d"
        )
        for i, price in enumerate([100.0, 90.0, 120.0, 110.0])
    ]
    reply = answer(Question("trend", "ethereum", 7), snapshot("ethereum"), trend_of(series, 7))
    assert reply.type == "trend"
    assert reply.data["firstPrice"] == 100.0 and reply.data["lastPrice"] == 110.0
    assert reply.data["changePercent"] == 10.0 and reply.data["points"] == 4
    assert reply.data["low"] == 90.0 and reply.data["high"] == 120.0
    assert "rose from $100.00 to $110.00 (+10.00%)" in reply.answer
    empty = answer(Question("trend", "ethereum", 7), snapshot("ethereum"), trend_of([], 7))
    assert empty.data == {"days": 7, "points": 0}


def test_answer_without_data() -> None:
    reply = answer(Question("price", "bitcoin"), None)
    assert "no data" in reply.answer and reply.data == {}


def test_help_lists_examples_and_coins() -> None:
    reply = help_answer(["bitcoin"], "Hm.")
    assert reply.type == "help" and reply.coin is None
    assert reply.data["coins"] == ["bitcoin"] and len(reply.data["examples"]) >= 5


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (67000.123, "$67,000.12"),
        (0.5, "$0.50"),
        (0.2345, "$0.2345"),
        (0.00012346, "$0.0001235"),
        (0, "$0.00"),
    ],
)
def test_usd(value: float, text: str) -> None:
    assert usd(value) == text


def test_usd_big() -> None:
    assert usd_big(512.4e6) == "$512.40 million" and usd_big(12.0) == "$12.00"


def test_volume_of_ethereum() -> None:
    question = read_question("volume of ethereum", COINS)
    assert (question.type, question.coin) == ("volume", "ethereum")
    snap = snapshot("ethereum")
    with_volume = Snapshot(
        newest=replace(snap.newest, volume_24h=1.25e10), deviation=1.0, samples=1, updated_at=AT
    )
    reply = answer(question, with_volume)
    assert reply.data["volume24h"] == 1.25e10 and "$12.50 billion" in reply.answer
    assert answer(question, snap).data["volume24h"] is None
