"""The background thread that listens for update triggers and keeps the read view fresh."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from api_server.ingest import Ingestor
from api_server.latest import LatestView
from cryptostats.messages import InvalidMessage, ingested_channel, parse_trigger

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How long one wait for a message lasts, so the stop flag is seen within a second."""

VIEW_REFRESH_SECONDS = 5.0
"""How often the read view is reloaded from the store even when no announcement arrives."""

BACKOFF_INITIAL = 0.5
"""First wait after a lost Redis connection; doubles on each failure."""

BACKOFF_MAX = 1.0
"""Longest wait between reconnection attempts, so a restarted Redis is used within about 1 s."""


class Subscriber:
    """Receives triggers on the channel and hands them to the ingestor, surviving Redis restarts."""

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        channel: str,
        ingestor: Ingestor,
        view: LatestView,
    ) -> None:
        self.redis = redis_client
        self.channel = channel
        self.notify_channel = ingested_channel(channel)
        self.ingestor = ingestor
        self.view = view
        self.stop_event = threading.Event()
        self.subscribed = threading.Event()
        self.reconnects = 0
        self.triggers = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether the listening thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the listening thread (once per serving process, after fork)."""
        if self.alive:
            return
        self.stop_event.clear()
        self._thread = threading.Thread(target=self.run, name="trigger-subscriber", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Listen until stopped: subscribe, catch up, handle messages, reconnect on failure."""
        backoff = BACKOFF_INITIAL
        pubsub: Any = None
        next_refresh = time.monotonic() + VIEW_REFRESH_SECONDS
        log.info("subscriber starting on channel %r", self.channel)
        while not self.stop_event.is_set():
            try:
                if pubsub is None:
                    pubsub = self._subscribe()
                    backoff = BACKOFF_INITIAL
                    self.ingestor.ingest_if_stale("catch-up after (re)subscribe")
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                if message is not None:
                    self._handle(message)
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + VIEW_REFRESH_SECONDS
                    self.view.refresh()
            except redis.RedisError as exc:
                self._drop(pubsub, exc)
                pubsub = None
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:
                log.exception("subscriber error; carrying on")
                self.stop_event.wait(POLL_SECONDS)
        self._drop(pubsub, None)
        log.info("subscriber stopped")

    def _subscribe(self) -> Any:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel, self.notify_channel)
        except BaseException:
            pubsub.close()
            raise
        if self.last_error is not None:
            self.reconnects += 1
            log.info("re-subscribed to %r after: %s", self.channel, self.last_error)
        else:
            log.info("subscribed to %r", self.channel)
        self.last_error = None
        self.subscribed.set()
        return pubsub

    def _drop(self, pubsub: Any, exc: Exception | None) -> None:
        self.subscribed.clear()
        if exc is not None:
            if self.last_error is None:
                log.warning("lost Redis (%s); reconnecting with backoff", exc)
            self.last_error = f"{type(exc).__name__}: {exc}"
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing a dead connection may fail any way
                pass

    def _handle(self, message: dict[str, Any]) -> None:
        channel = _text(message.get("channel"))
        if channel == self.notify_channel:
            self.view.refresh()
            return
        try:
            parse_trigger(message.get("data", b""))
        except InvalidMessage as exc:
            log.warning("ignored a message on %r: %s", channel, exc)
            return
        self.triggers += 1
        self.ingestor.ingest("trigger")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
