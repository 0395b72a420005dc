"""The read model: each coin's snapshot held in memory with its responses rendered once.

The write path stores snapshots and announces "ingested"; it never calls this module. The read
model owns its freshness: its own listener reloads it on every announcement and every
REFRESH_SECONDS (its timer), whatever process ingested. A request reads it with a dictionary
lookup and never queries the store, unless the model was never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from werkzeug.http import http_date

from api_server.domain import Snapshot
from api_server.errors import StoreUnavailable
from api_server.listener import POLL_SECONDS, ChannelListener
from api_server.redis_keys import ingested_channel
from api_server.store import Store

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
"""How often the read model reloads even when no announcement arrives."""

RETRY_LOAD_SECONDS = 1.0
"""Least time between on-demand loads while the view could not be loaded."""


@dataclass(frozen=True)
class CoinView:
    """A coin's snapshot with its response bodies and validators rendered once."""

    snapshot: Snapshot
    stats_body: bytes
    deviation_body: bytes
    stats_etag: str
    deviation_etag: str
    last_modified: str
    """HTTP date of the newest observation (never later than the snapshot's update)."""
    last_modified_ts: int
    updated_ts: float


def render(snapshot: Snapshot) -> CoinView:
    """Render the contract's response bodies, their ETags and Last-Modified for a snapshot."""
    newest = snapshot.newest
    stats = {"price": newest.price, "marketCap": newest.market_cap, "24hChange": newest.change_24h}
    stats_body = json.dumps(stats).encode()
    deviation_body = json.dumps({"deviation": snapshot.deviation}).encode()
    modified = min(snapshot.observed_at, snapshot.updated_at)
    return CoinView(
        snapshot=snapshot,
        stats_body=stats_body,
        deviation_body=deviation_body,
        stats_etag=entity_tag(stats_body),
        deviation_etag=entity_tag(deviation_body),
        last_modified=http_date(modified),
        last_modified_ts=int(modified.timestamp()),
        updated_ts=snapshot.updated_at.timestamp(),
    )


def entity_tag(body: bytes) -> str:
    """Return a strong ETag (quoted) derived from a response body."""
    return '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


class ReadModel:
    """Snapshots by coin, loaded from the store and swapped in whole."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.monotonic,
        in_background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.in_background = in_background or _in_thread
        """Runs the on-demand retry of a read while the store is down (a thread; tests: inline)."""
        self._coins: dict[str, CoinView] = {}
        self._series: dict[str, str] = {}
        self._loaded = False
        self._store_error: str | None = None
        self._last_attempt = 0.0
        self._lock = threading.Lock()
        self.loaded_at: float | None = None

    def refresh(self) -> bool:
        """Reload every snapshot from the store; return False when the store is unreachable."""
        self._last_attempt = self.clock()
        try:
            snapshots = self.store.snapshots()
            series = self.store.series_versions()
        except StoreUnavailable as exc:
            if self._store_error is None:
                log.warning("data store unreachable, reads answer 503 until it returns: %s", exc)
            self._store_error = exc.message
            return False
        self._coins = {coin: render(snap) for coin, snap in snapshots.items()}
        self._series = {coin: moment.isoformat() for coin, moment in series.items()}
        if self._store_error is not None:
            log.info("data store reachable again")
        self._store_error = None
        self._loaded = True
        self.loaded_at = time.time()
        return True

    def get(self, coin: str) -> CoinView | None:
        """Return a coin's view, raising StoreUnavailable while the store cannot be read."""
        if not self._loaded or self._store_error is not None:
            self._retry_load()
        if self._store_error is not None:
            raise StoreUnavailable(self._store_error)
        return self._coins.get(coin)

    def history_version(self, coin: str) -> str | None:
        """Return a token that changes whenever the coin's history does, or None without any.

        /api/history decides its 304 from it (and the window) without querying anything.
        """
        self.get("")
        return self._series.get(coin)

    def all(self) -> dict[str, CoinView]:
        """Return every coin's view (same availability rules as get)."""
        self.get("")
        return dict(self._coins)

    def current(self) -> dict[str, CoinView]:
        """Return the views loaded so far, never waiting for the store (metrics, status)."""
        return dict(self._coins)

    @property
    def store_error(self) -> str | None:
        """The last store error, or None while the store answers."""
        return self._store_error

    def _retry_load(self) -> None:
        # Before the first load every request waits for it. Once the store is known to be down,
        # requests answer 503 at once and a background thread retries, at most once a second.
        if self._store_error is not None:
            self._retry_in_background()
            return
        with self._lock:
            if not self._loaded and self._store_error is None:
                self.refresh()

    def _retry_in_background(self) -> None:
        if self.clock() - self._last_attempt < RETRY_LOAD_SECONDS:
            return
        if not self._lock.acquire(blocking=False):
            return  # a retry is already running
        self._last_attempt = self.clock()

        def retry() -> None:
            try:
                self.refresh()
            finally:
                self._lock.release()

        self.in_background(retry)


def _in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="read-model-retry", daemon=True).start()


class ReadModelListener(ChannelListener):
    """Reloads the read model on every "ingested" announcement and every REFRESH_SECONDS."""

    name = "read-model"

    def __init__(
        self,
        model: ReadModel,
        *,
        redis_client: redis.Redis,
        channel: str,
        poll_seconds: float = POLL_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            redis_client=redis_client,
            channels=[ingested_channel(channel)],
            poll_seconds=poll_seconds,
        )
        self.model = model
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.next_refresh = clock() + refresh_seconds

    def on_subscribed(self) -> None:
        """Load at once: announcements may have been missed while not subscribed."""
        self._refresh()

    def on_message(self, channel: str, data: Any) -> None:
        """Reload after any process announced an ingest (the content is not read)."""
        self._refresh()

    def on_poll(self) -> None:
        """Reload on the timer."""
        if self.clock() >= self.next_refresh:
            self._refresh()

    def _refresh(self) -> None:
        self.next_refresh = self.clock() + self.refresh_seconds
        self.model.refresh()
