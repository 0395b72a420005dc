"""The in-process view of the latest snapshots, so reads cost a dictionary lookup.

The ingest writes snapshots to the store; every serving process loads them into this view
(after its own ingest, when another process announces one, and every few seconds), with the
JSON bodies rendered once. A request never queries the store unless the view was never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from werkzeug.http import http_date

from api_server.errors import StoreUnavailable
from api_server.store import Snapshot, Store

log = logging.getLogger(__name__)

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
    stats = {
        "price": snapshot.price,
        "marketCap": snapshot.market_cap,
        "24hChange": snapshot.change_24h,
    }
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


def iso_time(moment: datetime | None) -> str | None:
    """Return an aware datetime as ISO 8601 UTC with milliseconds and a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entity_tag(body: bytes) -> str:
    """Return a strong ETag (quoted) derived from a response body."""
    return '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'


class LatestView:
    """Snapshots by coin, loaded from the store and swapped in whole."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._coins: dict[str, CoinView] = {}
        self._loaded = False
        self._store_error: str | None = None
        self._last_attempt = 0.0
        self._lock = threading.Lock()
        self.loaded_at: float | None = None

    def refresh(self) -> bool:
        """Reload every snapshot from the store; return False when the store is unreachable."""
        self._last_attempt = time.monotonic()
        try:
            snapshots = self.store.snapshots()
        except StoreUnavailable as exc:
            if self._store_error is None:
                log.warning("data store unreachable, reads answer 503 until it returns: %s", exc)
            self._store_error = exc.message
            return False
        self._coins = {coin: render(snap) for coin, snap in snapshots.items()}
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

    def all(self) -> dict[str, CoinView]:
        """Return every coin's view (same availability rules as get)."""
        self.get("")
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
        if time.monotonic() - self._last_attempt < RETRY_LOAD_SECONDS:
            return
        if not self._lock.acquire(blocking=False):
            return  # a retry is already running
        self._last_attempt = time.monotonic()

        def retry() -> None:
            try:
                self.refresh()
            finally:
                self._lock.release()

        threading.Thread(target=retry, name="view-retry", daemon=True).start()
