"""The ingest's hook for alerts: stored observations, after the announcement, live ingests only."""

from __future__ import annotations

from api_server.app_state import state_of
from api_server.domain import Observation
from api_server.redis_keys import ingested_channel
from tests.unit.actions_harness import build
from tests.unit.fakes import observation


def test_listeners_get_what_was_stored_after_the_announcement() -> None:
    api = build(ingest=False)
    state = state_of(api.app)
    pubsub = api.redis.pubsub()
    pubsub.subscribe(ingested_channel(state.settings.redis_channel))
    pubsub.get_message(timeout=1)  # the subscription confirmation
    calls: list[tuple[list[Observation], bool]] = []

    def listener(stored: list[Observation]) -> None:
        announced = pubsub.get_message(timeout=0.5) is not None
        calls.append((stored, announced))

    state.ingestor.stored_listeners = [listener]
    state.ingestor.run("test")
    [(stored, announced)] = calls
    assert announced  # the read models were told first
    assert sorted(obs.coin for obs in stored) == sorted(state.settings.coin_names)


def test_a_replicated_batch_is_evaluated_and_duplicates_are_not() -> None:
    api = build(ingest=False)
    ingestor = state_of(api.app).ingestor
    calls: list[list[Observation]] = []
    ingestor.stored_listeners = [calls.append]
    batch = [observation("bitcoin", 5.0, seq=9)]
    ingestor.apply(batch, {})
    ingestor.apply(batch, {})  # already stored: nothing new to evaluate
    assert calls == [batch]
