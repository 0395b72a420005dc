"""The "ingested" announcement: what an attacker who can publish on Redis cannot make us store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from api_server.announcement import (
    MAX_ANNOUNCEMENT_BYTES,
    MAX_OBSERVATIONS,
    Announcement,
    InvalidAnnouncement,
    parse_announcement,
)
from api_server.backfill import BackfillRecord
from api_server.domain import CoinLabel, Observation

AT = datetime(2026, 1, 1, tzinfo=UTC)


def row(price: object = 40000.0, market_cap: object = 8e11, change: object = 3.4) -> list[object]:
    return ["bitcoin", AT.isoformat(), price, market_cap, change, "api.coingecko.com"]


def message(*rows: list[object]) -> str:
    return json.dumps({"origin": "other:1", "observations": list(rows), "labels": {}})


def test_an_announcement_round_trips() -> None:
    obs = Observation("bitcoin", AT, 40000.0, 8e11, 3.4, "api.coingecko.com")
    sent = Announcement("host:1", [obs], {"bitcoin": CoinLabel("btc", "Bitcoin")})
    got = parse_announcement(sent.encode())
    assert got.observations == [obs]
    assert got.labels == {"bitcoin": CoinLabel("btc", "Bitcoin")}


def test_volume_deviation_and_backfilled_points_round_trip() -> None:
    obs = Observation("bitcoin", AT, 40000.0, 8e11, 3.4, "x", volume_24h=2.5e10, deviation=12.5)
    point = BackfillRecord("bitcoin", AT, 39000.0, 7e11, 2e10, "x")
    got = parse_announcement(Announcement("host:1", [obs], {}, [point]).encode())
    assert got.observations == [obs] and got.backfill == [point]
    only_points = parse_announcement(Announcement("host:1", None, None, [point]).encode())
    assert only_points.observations == [] and only_points.backfill == [point]


@pytest.mark.parametrize(
    "bad",
    [
        ["bitcoin", AT.isoformat(), 1.0, 1.0, -1.0, "x"],
        ["bitcoin", AT.isoformat(), 0.0, 1.0, 1.0, "x"],
        ["bitcoin", AT.isoformat(), 1.0, 1.0, "NaN", "x"],
        ["bitcoin", AT.isoformat(), 1.0],
    ],
)
def test_a_backfilled_point_upstream_would_reject_is_rejected(bad: list[object]) -> None:
    with pytest.raises(InvalidAnnouncement):
        parse_announcement(json.dumps({"origin": "x", "backfill": [bad]}))


@pytest.mark.parametrize(
    "bad",
    [
        row(price=-1.0),
        row(price=0),
        row(market_cap=-5),
        row(price="NaN"),
        row(change="Infinity"),
        row(price=None),
        ["bitcoin", "not a time", 1.0, 1.0, 1.0, "x"],
        ["bitcoin", AT.isoformat(), 1.0],
        [7, AT.isoformat(), 1.0, 1.0, 1.0, "x"],
    ],
)
def test_an_observation_upstream_would_reject_is_rejected(bad: list[object]) -> None:
    with pytest.raises(InvalidAnnouncement):
        parse_announcement(message(bad))


def test_too_many_observations_are_rejected_unread() -> None:
    with pytest.raises(InvalidAnnouncement):
        parse_announcement(message(*[row()] * (MAX_OBSERVATIONS + 1)))


def test_observations_must_be_a_list() -> None:
    with pytest.raises(InvalidAnnouncement):
        parse_announcement(json.dumps({"origin": "x", "observations": {"a": 1}}))


def test_an_oversized_or_deeply_nested_message_is_rejected() -> None:
    with pytest.raises(InvalidAnnouncement):
        parse_announcement(b" " * (MAX_ANNOUNCEMENT_BYTES + 1))
    with pytest.raises(InvalidAnnouncement):
        parse_announcement("[" * 100_000 + "]" * 100_000)
