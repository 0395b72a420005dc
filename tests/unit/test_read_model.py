"""The read model through its public methods, and its listener driven poll by poll."""

from __future__ import annotations

from collections.abc import Callable

import fakeredis
import mongomock
import pytest

from api_server.domain import CoinLabel
from api_server.errors import StoreUnavailable
from api_server.read_model import ReadModel, ReadModelListener, render
from api_server.snapshots import build_snapshot
from api_server.store import Store
from tests.unit.fakes import T0, FakeClock, observation


def save(store: Store, price: float) -> None:
    obs = observation("bitcoin", price)
    store.save_snapshot(build_snapshot(obs, ((obs.observed_at, price),), CoinLabel(), T0))


@pytest.fixture
def store() -> Store:
    return Store(mongomock.MongoClient()["cryptostats"], embedded=True)


def test_it_loads_on_first_read_then_only_when_refreshed(store: Store) -> None:
    save(store, 1.0)
    model = ReadModel(store)
    assert model.get("bitcoin").snapshot.newest.price == 1.0  # type: ignore[union-attr]
    save(store, 2.0)
    assert model.get("bitcoin").snapshot.newest.price == 1.0  # type: ignore[union-attr]
    assert model.refresh() is True
    assert model.get("bitcoin").snapshot.newest.price == 2.0  # type: ignore[union-attr]
    assert model.get("ethereum") is None and set(model.all()) == {"bitcoin"}


def test_bodies_and_validators_are_rendered_once(store: Store) -> None:
    save(store, 40000.0)
    view = ReadModel(store).get("bitcoin")
    assert view is not None and view == render(view.snapshot)
    assert view.stats_body == b'{"price": 40000.0, "marketCap": 40000000.0, "24hChange": 1.5}'
    assert view.deviation_body == b'{"deviation": 0.0}'
    assert view.last_modified == "Thu, 01 Jan 2026 00:00:00 GMT"


def test_a_store_outage_is_remembered_and_answered_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(store, 1.0)
    model = ReadModel(store, clock=FakeClock())
    model.refresh()

    def down(**_: object) -> None:
        raise StoreUnavailable("data store unavailable (AutoReconnect)")

    monkeypatch.setattr(store, "snapshots", down)
    assert model.refresh() is False and model.store_error is not None
    with pytest.raises(StoreUnavailable):
        model.get("bitcoin")
    assert set(model.current()) == {"bitcoin"}  # what was loaded, for metrics and status
    monkeypatch.undo()
    assert model.refresh() is True and model.store_error is None


def test_a_read_while_the_store_is_down_retries_at_most_once_a_second(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(store, 1.0)
    clock, retries = FakeClock(), []

    def inline(work: Callable[[], None]) -> None:
        retries.append(clock.now)
        work()

    model = ReadModel(store, clock=clock, in_background=inline)

    def down(**_: object) -> None:
        raise StoreUnavailable("data store unavailable (AutoReconnect)")

    monkeypatch.setattr(store, "snapshots", down)
    assert model.refresh() is False
    clock.advance(0.5)
    with pytest.raises(StoreUnavailable):
        model.get("bitcoin")  # answered at once; too soon to retry
    assert retries == []
    clock.advance(0.5)
    with pytest.raises(StoreUnavailable):
        model.get("bitcoin")  # retries (in the background), still down
    assert len(retries) == 1
    monkeypatch.undo()
    clock.advance(1.0)
    view = model.get("bitcoin")  # the retry succeeds: reads answer again by themselves
    assert len(retries) == 2 and view is not None and model.store_error is None


def listener(
    store: Store, clock: FakeClock
) -> tuple[ReadModel, ReadModelListener, Callable[[], int]]:
    client = fakeredis.FakeRedis()
    model = ReadModel(store)
    loads = {"n": 0}
    original = model.refresh

    def counted() -> bool:
        loads["n"] += 1
        return original()

    model.refresh = counted  # type: ignore[method-assign]
    lst = ReadModelListener(
        model, redis_client=client, channel="crypto.update", poll_seconds=0, clock=clock
    )
    return model, lst, lambda: loads["n"]


def test_the_listener_reloads_on_an_announcement(store: Store) -> None:
    model, lst, loads = listener(store, FakeClock())
    lst.run(max_polls=1)
    assert loads() == 1  # on subscribing: announcements may have been missed
    save(store, 3.0)
    lst.redis.publish("crypto.update.ingested", '{"origin": "elsewhere"}')
    lst.run(max_polls=1)
    assert loads() == 2 and model.get("bitcoin").snapshot.newest.price == 3.0  # type: ignore[union-attr]
    lst.run(max_polls=3)
    assert loads() == 2  # nothing announced, the timer not due


def test_the_listener_reloads_on_its_timer(store: Store) -> None:
    clock = FakeClock()
    _, lst, loads = listener(store, clock)
    lst.run(max_polls=1)
    clock.advance(4.9)
    lst.run(max_polls=1)
    assert loads() == 1
    clock.advance(0.1)
    lst.run(max_polls=1)
    assert loads() == 2
