"""A replica-set primary step-down during an ingest or a read is survived; no primary is a 503.

No MongoDB server can run on the project's machine, so the step-down is played by a fake database
that raises pymongo's own error types (the ones pymongo raises when a primary steps down or no
primary can be found) before handing the call to mongomock. Retries sleep on a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mongomock
import pytest
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from api_server.domain import CoinLabel, Observation, Snapshot
from api_server.errors import StoreUnavailable
from api_server.report import IngestReport
from api_server.store import (
    RETRY_ATTEMPTS,
    RETRY_BUDGET_SECONDS,
    Store,
    StoreRetry,
    retryable,
)
from tests.unit.conftest import Harness
from tests.unit.fakes import T0, FakeClock, observation

STEPPED_DOWN = NotPrimaryError(
    "not primary", {"code": 10107, "errorLabels": ["RetryableWriteError"]}
)
"""What an operation on a primary that just stepped down raises."""

CONNECTION_LOST = AutoReconnect("connection closed (the old primary dropped its connections)")
NO_PRIMARY = ServerSelectionTimeoutError("No replica set members match selector Primary()")


class SteppingDownDatabase:
    """A mongomock database whose next calls raise scripted pymongo errors, then succeed."""

    def __init__(self) -> None:
        self.real = mongomock.MongoClient()["cryptostats"]
        self.client = self.real.client
        self.errors: list[PyMongoError] = []
        self.calls: list[str] = []
        self.lose_reply = False

    def fail_next(self, *errors: PyMongoError) -> None:
        """Raise these errors from the next calls, one per call, without running them."""
        self.errors.extend(errors)

    def lose_next_reply(self) -> None:
        """Run the next call, then lose its reply with the connection."""
        self.lose_reply = True

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(self, self.real[name])


class _Collection:
    def __init__(self, database: SteppingDownDatabase, real: Any) -> None:
        self._database, self._real = database, real

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._real, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._database.calls.append(name)
            if self._database.errors:
                raise self._database.errors.pop(0)
            result = method(*args, **kwargs)
            if self._database.lose_reply:
                self._database.lose_reply = False
                raise CONNECTION_LOST
            return result

        return call


def snapshot_of(obs: Observation) -> Snapshot:
    return Snapshot(newest=obs, deviation=0.0, samples=1, updated_at=T0, label=CoinLabel("", ""))


class Sleeps:
    """A sleep that records its pauses and moves a fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps(clock: FakeClock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def database() -> SteppingDownDatabase:
    return SteppingDownDatabase()


@pytest.fixture
def store(database: SteppingDownDatabase, clock: FakeClock, sleeps: Sleeps) -> Store:
    return Store(database, retry=StoreRetry(sleep=sleeps, clock=clock))


def test_which_errors_are_retried() -> None:
    assert retryable(STEPPED_DOWN)
    assert retryable(CONNECTION_LOST)
    assert retryable(ConnectionFailure("reset by peer"))
    labelled = OperationFailure("PrimarySteppedDown", 189, {"errorLabels": ["RetryableWriteError"]})
    assert retryable(labelled)
    assert not retryable(OperationFailure("bad query", 2))
    assert not retryable(NO_PRIMARY), "pymongo already waited for a primary"


def test_a_write_met_by_a_step_down_is_retried_and_stored_once(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    database.fail_next(STEPPED_DOWN, CONNECTION_LOST)
    assert store.add_observation(observation("bitcoin", 10.0)) is True
    assert database.calls == ["insert_one"] * 3
    assert sleeps.pauses == [0.2, 0.4]
    assert store.count_observations("bitcoin") == 1


def test_a_write_that_landed_before_the_connection_was_lost_is_not_doubled(
    store: Store, database: SteppingDownDatabase
) -> None:
    database.lose_next_reply()  # written, then the primary stepped down before answering
    stored = store.add_observation(observation("bitcoin", 10.0))
    assert database.calls == ["insert_one", "insert_one"]
    assert stored is False  # the retry met the record the first attempt wrote: not stored twice
    assert store.count_observations("bitcoin") == 1


def test_an_ingest_report_is_recorded_once_across_a_lost_reply(
    store: Store, database: SteppingDownDatabase
) -> None:
    report = IngestReport(reason="trigger", started_at=T0, outcome="ok", stored=["bitcoin"])
    database.lose_next_reply()
    store.record_ingest(report)
    assert database.calls == ["insert_one", "insert_one"]
    assert store.recent_ingests(5) == [report]


def test_a_labelled_write_error_is_retried(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    label = {"errorLabels": ["RetryableWriteError"]}
    database.fail_next(OperationFailure("InterruptedDueToReplStateChange", 11602, label))
    store.save_snapshot(snapshot_of(observation("bitcoin", 3.0)))
    assert set(store.snapshots()) == {"bitcoin"} and sleeps.pauses == [0.2]


def test_a_read_met_by_a_step_down_is_retried(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    store.add_observation(observation("bitcoin", 10.0))
    database.fail_next(STEPPED_DOWN)
    assert [o.price for o in store.recent_observations("bitcoin", 5)] == [10.0]
    assert sleeps.pauses == [0.2]


def test_no_primary_fails_at_once_without_a_retry(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    database.fail_next(NO_PRIMARY)
    with pytest.raises(StoreUnavailable, match="ServerSelectionTimeoutError"):
        store.snapshots()
    assert database.calls == ["find"] and sleeps.pauses == []


def test_a_step_down_that_outlasts_the_attempts_is_a_store_error(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    database.fail_next(*[STEPPED_DOWN] * 10)
    with pytest.raises(StoreUnavailable, match="NotPrimaryError"):
        store.count_observations("bitcoin")
    assert len(database.calls) == RETRY_ATTEMPTS
    assert sum(sleeps.pauses) <= RETRY_BUDGET_SECONDS


def test_no_retry_starts_past_the_budget(database: SteppingDownDatabase, clock: FakeClock) -> None:
    def slow_sleep(seconds: float) -> None:
        clock.advance(seconds + 2.5)  # each attempt also waited on the network

    store = Store(database, retry=StoreRetry(sleep=slow_sleep, clock=clock, attempts=10))
    database.fail_next(*[CONNECTION_LOST] * 10)
    with pytest.raises(StoreUnavailable):
        store.snapshots()
    assert len(database.calls) == 2  # 0.2 + 2.5 s after the first, a second pause would pass 3 s


def test_an_error_that_is_not_a_step_down_is_not_retried(
    store: Store, database: SteppingDownDatabase, sleeps: Sleeps
) -> None:
    database.fail_next(OperationFailure("unauthorized", 13))
    with pytest.raises(StoreUnavailable, match="OperationFailure"):
        store.snapshots()
    assert sleeps.pauses == []


def test_reads_are_served_through_a_step_down_and_503_only_without_a_primary(
    make_harness: Callable[..., Harness], store: Store, database: SteppingDownDatabase
) -> None:
    h = make_harness(store=store)
    database.fail_next(STEPPED_DOWN)  # during the ingest's first write
    report = h.ingest("trigger")
    assert report is not None and report.outcome == "ok", report
    database.fail_next(STEPPED_DOWN, CONNECTION_LOST)  # during the read model's reload
    h.state.read_model.refresh()
    assert h.client.get("/api/stats?coin=bitcoin").status_code == 200
    database.fail_next(NO_PRIMARY)
    h.state.read_model.refresh()
    unavailable = h.client.get("/api/stats?coin=bitcoin")
    assert unavailable.status_code == 503
    assert unavailable.get_json() == {
        "error": "data store unavailable (ServerSelectionTimeoutError)"
    }
    h.state.read_model.refresh()  # a primary is elected: the next reload serves again
    assert h.client.get("/api/stats?coin=bitcoin").status_code == 200


def test_the_client_always_asks_for_majority_writes_and_retryable_operations() -> None:
    for uri in ("mongodb://127.0.0.1:9/", "mongodb://127.0.0.1:9/?w=1&retryWrites=false"):
        store = Store.connect(uri, "cryptostats")
        client = store.db.client
        try:
            assert client.write_concern.document == {"w": "majority"}
            assert client.options.retry_writes and client.options.retry_reads
            assert client.options.server_selection_timeout == 2.5
        finally:
            client.close()
