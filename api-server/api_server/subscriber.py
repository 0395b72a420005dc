"""The write path's trigger: listens for update triggers and hands them to the ingestor.

On every (re)subscription it catches up (an ingest when the data is missing or old); a catch-up
skipped because the claim is held is tried again once the claim can be won. With the embedded
store it also stores what other embedded-store processes announce they stored (ingest.apply).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from api_server.announcement import InvalidAnnouncement, parse_announcement
from api_server.ingest import Ingestor
from api_server.listener import POLL_SECONDS, ChannelListener
from api_server.redis_keys import ingested_channel
from cryptostats.config import Settings
from cryptostats.messages import InvalidMessage, parse_trigger

log = logging.getLogger(__name__)

CATCH_UP = "catch-up after (re)subscribe"
"""The reason of the ingest run when the subscriber (re)subscribes."""


class Subscriber(ChannelListener):
    """Receives triggers on the channel and hands them to the ingestor, surviving Redis restarts."""

    name = "trigger-subscriber"

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        settings: Settings,
        ingestor: Ingestor,
        replicate: bool = False,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        channel = settings.redis_channel
        self.tracked = frozenset(settings.coin_names)
        self.announcements = ingested_channel(channel)
        channels = [channel, self.announcements] if replicate else [channel]
        super().__init__(redis_client=redis_client, channels=channels, poll_seconds=poll_seconds)
        self.ingestor = ingestor
        self.clock = clock
        self.triggers = 0
        self.catch_up_at: float | None = None
        """When to try a skipped catch-up again (clock time), or None."""

    def on_subscribed(self) -> None:
        """Catch up on what was missed while nobody listened."""
        self._catch_up()

    def on_poll(self) -> None:
        """Retry a skipped catch-up once its claim has ended."""
        if self.catch_up_at is not None and self.clock() >= self.catch_up_at:
            self._catch_up()

    def on_message(self, channel: str, data: Any) -> None:
        """Ingest on a trigger; store a batch another embedded-store process announced."""
        if channel == self.announcements:
            self._replicate(data)
            return
        try:
            parse_trigger(data)
        except InvalidMessage as exc:
            log.warning("ignored a message on %r: %s", channel, exc)
            return
        self.triggers += 1
        self.ingestor.ingest("trigger")

    def _catch_up(self) -> None:
        outcome = self.ingestor.catch_up(CATCH_UP)
        self.catch_up_at = None if outcome.retry_in is None else self.clock() + outcome.retry_in

    def _replicate(self, data: Any) -> None:
        try:
            announcement = parse_announcement(data)
        except InvalidAnnouncement as exc:
            log.warning("ignored a message on %r: %s", self.announcements, exc)
            return
        if announcement.origin == self.ingestor.origin or announcement.observations is None:
            return
        batch = [obs for obs in announcement.observations if obs.coin in self.tracked]
        backfill = [r for r in announcement.backfill or [] if r.coin in self.tracked]
        self.ingestor.apply(batch, announcement.labels or {}, backfill)
