"""A Pub/Sub loop that survives Redis restarts, shared by the subscriber and the read model.

`run(max_polls=None)` subscribes, waits up to `poll_seconds` for a message, hands it to
`on_message`, calls `on_poll` after every wait, and on a lost connection backs off (0.5 s, then
1 s) and subscribes again (then `on_subscribed` runs again). Waits go through the stop event, so
`stop()` ends a wait at once; tests run a few polls in-process with `poll_seconds=0`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How long one wait for a message lasts, so the stop flag is seen within a second."""

BACKOFF_INITIAL = 0.5
"""First wait after a lost Redis connection; doubles on each failure."""

BACKOFF_MAX = 1.0
"""Longest wait between reconnection attempts, so a restarted Redis is used within about 1 s."""

BUG_PAUSE_SECONDS = 0.05
"""Pause after an unexpected error (a bug), so that a repeating one cannot spin the loop."""


class ChannelListener:
    """Listens on some channels in a thread of its own; subclasses handle the messages."""

    name = "listener"

    def __init__(
        self, *, redis_client: redis.Redis, channels: list[str], poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.redis = redis_client
        self.channels = channels
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.subscribed = threading.Event()
        self.reconnects = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._pubsub: Any = None

    @property
    def alive(self) -> bool:
        """Whether the listening thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the listening thread (once per serving process, after fork)."""
        if self.alive:
            return
        self.stop_event.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self, *, max_polls: int | None = None) -> None:
        """Listen until stopped (or for max_polls waits): subscribe, handle, reconnect.

        After max_polls the subscription is kept, so that a later run goes on where this ended.
        """
        backoff = BACKOFF_INITIAL
        pubsub: Any = self._pubsub
        polls = 0
        while not self.stop_event.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            try:
                if pubsub is None:
                    pubsub = self._subscribe()
                    backoff = BACKOFF_INITIAL
                    self.on_subscribed()
                message = self._next_message(pubsub)
                if message is not None:
                    self.on_message(_text(message.get("channel")), message.get("data", b""))
                self.on_poll()
            except redis.RedisError as exc:
                self._drop(pubsub, exc)
                pubsub = None
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:
                log.exception("%s error; carrying on", self.name)
                self.stop_event.wait(BUG_PAUSE_SECONDS)
        self._pubsub = pubsub
        if self.stop_event.is_set():
            self._drop(pubsub, None)
            self._pubsub = None

    def on_subscribed(self) -> None:
        """Called after every (re)subscription."""

    def on_message(self, channel: str, data: Any) -> None:
        """Called with every message."""

    def on_poll(self) -> None:
        """Called after every wait for a message."""

    def _next_message(self, pubsub: Any) -> dict[str, Any] | None:
        # Subscription confirmations are skipped without using up the poll.
        message = pubsub.get_message(timeout=self.poll_seconds)
        while message is not None and message.get("type") != "message":
            message = pubsub.get_message(timeout=0)
        return message  # type: ignore[no-any-return]

    def _subscribe(self) -> Any:
        pubsub = self.redis.pubsub()
        try:
            pubsub.subscribe(*self.channels)
        except BaseException:
            pubsub.close()
            raise
        if self.last_error is not None:
            self.reconnects += 1
            log.info("%s re-subscribed to %s after: %s", self.name, self.channels, self.last_error)
        else:
            log.info("%s subscribed to %s", self.name, self.channels)
        self.last_error = None
        self.subscribed.set()
        return pubsub

    def _drop(self, pubsub: Any, exc: Exception | None) -> None:
        self.subscribed.clear()
        if exc is not None:
            if self.last_error is None:
                log.warning("%s lost Redis (%s); reconnecting with backoff", self.name, exc)
            self.last_error = f"{type(exc).__name__}: {exc}"
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing a dead connection may fail any way
                pass


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
