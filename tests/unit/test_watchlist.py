"""Watchlists: per key, idempotent, tracked coins only, at most 100; /api/coins?watchlist=true."""

from __future__ import annotations

import pytest

from api_server.watchlist import MAX_WATCHLIST
from tests.unit.actions_harness import ActionsApp, build


@pytest.fixture
def actions() -> ActionsApp:
    return build()


def test_put_get_delete_are_idempotent(actions: ActionsApp) -> None:
    _, key = actions.new_key()
    for _ in range(2):
        resp = actions.call("PUT", "/api/watchlist/ethereum", key=key)
        assert resp.status_code == 200 and resp.get_json() == {"coins": ["ethereum"]}
    actions.call("PUT", "/api/watchlist/Bitcoin", key=key)
    assert actions.call("GET", "/api/watchlist", key=key).get_json() == {
        "coins": ["ethereum", "bitcoin"]
    }
    for _ in range(2):
        resp = actions.call("DELETE", "/api/watchlist/ethereum", key=key)
        assert resp.status_code == 204 and resp.data == b""
    assert actions.call("GET", "/api/watchlist", key=key).get_json() == {"coins": ["bitcoin"]}


def test_an_untracked_coin_is_a_400_listing_the_tracked(actions: ActionsApp) -> None:
    _, key = actions.new_key()
    resp = actions.call("PUT", "/api/watchlist/dogecoin", key=key)
    assert resp.status_code == 400
    assert resp.get_json()["coins"] == ["bitcoin", "ethereum", "matic-network"]


def test_at_most_100_coins() -> None:
    coins = ",".join(f"coin-{i}" for i in range(MAX_WATCHLIST + 1))
    actions = build(env={"COINS": coins}, ingest=False)
    _, key = actions.new_key()
    for i in range(MAX_WATCHLIST):
        assert actions.call("PUT", f"/api/watchlist/coin-{i}", key=key).status_code == 200
    resp = actions.call("PUT", f"/api/watchlist/coin-{MAX_WATCHLIST}", key=key)
    assert resp.status_code == 400
    assert "at most 100" in resp.get_json()["error"]
    assert actions.call("PUT", "/api/watchlist/coin-0", key=key).status_code == 200  # idempotent
    assert len(actions.call("GET", "/api/watchlist", key=key).get_json()["coins"]) == 100


def test_coins_watchlist_true_is_the_callers_coins_in_coins_shape(actions: ActionsApp) -> None:
    _, key = actions.new_key()
    actions.call("PUT", "/api/watchlist/ethereum", key=key)
    everything = actions.call("GET", "/api/coins").get_json()
    mine = actions.call("GET", "/api/coins?watchlist=true", key=key)
    assert mine.status_code == 200
    assert mine.get_json() == {
        "coins": [c for c in everything["coins"] if c["coin"] == "ethereum"],
        "count": 1,
    }
    assert mine.headers["Cache-Control"] == "private, no-cache"
    assert mine.headers["Vary"] == "Authorization"
    assert actions.call("GET", "/api/coins?watchlist=false").get_json() == everything


@pytest.mark.parametrize("query", ["watchlist=yes", "watchlist=true&watchlist=true"])
def test_a_bad_watchlist_parameter_is_a_400(actions: ActionsApp, query: str) -> None:
    _, key = actions.new_key()
    assert actions.call("GET", f"/api/coins?{query}", key=key).status_code == 400


def test_revoking_a_key_drops_its_watchlist(actions: ActionsApp) -> None:
    from tests.unit.actions_harness import ADMIN_KEY

    key_id, key = actions.new_key()
    actions.call("PUT", "/api/watchlist/bitcoin", key=key)
    actions.call("DELETE", f"/api/keys/{key_id}", key=ADMIN_KEY)
    assert actions.database["watchlists"].count_documents({"_id": key_id}) == 0
