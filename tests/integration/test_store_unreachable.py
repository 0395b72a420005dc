"""A store whose MongoDB cannot be reached: pymongo really connects (to a closed port) and gives up.

These open real sockets and wait for pymongo's server selection, so they live here rather than in
tests/unit (issue 9); the store's retry decisions are unit-tested with fake databases in
tests/unit/test_store_retry.py.
"""

from __future__ import annotations

import time
from typing import Any

import pymongo
import pytest

from api_server.errors import ApiError, StoreUnavailable
from api_server.store import Store, StoreRetry, client_options
from tests.unit.fakes import FakeClock, observation
from tests.unit.test_store_retry import Sleeps

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps(clock: FakeClock) -> Sleeps:
    return Sleeps(clock)


def test_an_unreachable_store_raises_a_store_error_not_an_http_one() -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(  # type: ignore[type-arg]
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=1, connect=False
    )
    try:
        with pytest.raises(StoreUnavailable) as caught:
            Store(client["x"]).snapshots()
    finally:
        client.close()
    assert not isinstance(caught.value, ApiError)
    assert caught.value.message == "data store unavailable (ServerSelectionTimeoutError)"


def test_an_unreachable_server_is_a_store_error_within_the_selection_timeout(
    sleeps: Sleeps, clock: FakeClock
) -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        "mongodb://127.0.0.1:9",
        connect=False,
        **{**client_options(), "serverSelectionTimeoutMS": 50},
    )
    store = Store(client["x"], retry=StoreRetry(sleep=sleeps, clock=clock))
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable, match="ServerSelectionTimeoutError"):
            store.add_observation(observation("bitcoin", 1.0))
    finally:
        client.close()
    assert time.monotonic() - started < 2
    assert sleeps.pauses == []  # no primary: not retried
