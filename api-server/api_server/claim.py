"""The claim: which API process fetches from upstream, so a burst of triggers makes one call.

One Redis key per channel. `acquire` sets it to `busy:<token>` (SET NX PX, the lease: a
crashed ingest frees it when the lease ends). `release` turns our own busy claim, and only ours
(compare-and-set under WATCH), into `done:<token>` that lasts the claim window: triggers
arriving within the window after an ingest finished still share its upstream call, and a claim
never outlives the ingest it guards by more than that window. `retry_in` says when a skipped
caller may try again.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Protocol

import redis

from api_server.redis_keys import claim_key

log = logging.getLogger(__name__)

MIN_RETRY_SECONDS = 0.05
"""Shortest wait before trying a claim again."""


@dataclass(frozen=True)
class Lease:
    """A won claim; `coordinated` is False when Redis could not be asked (fetch anyway)."""

    token: str
    coordinated: bool = True


class IngestClaim(Protocol):
    """Who may fetch now (Redis in production, a fake in tests)."""

    def acquire(self) -> Lease | None: ...

    def release(self, lease: Lease) -> None: ...

    def retry_in(self) -> float: ...


class RedisClaim:
    """The claim held in one Redis key shared by every API process on a channel."""

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        *,
        window_seconds: float,
        lease_seconds: float,
    ) -> None:
        self.redis = client
        self.key = claim_key(channel)
        self.window_ms = max(1, int(window_seconds * 1000))
        self.lease_ms = max(self.window_ms, int(lease_seconds * 1000))
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def acquire(self) -> Lease | None:
        """Claim the fetch; return the lease, or None while another ingest holds it."""
        token = f"{self.owner}:{uuid.uuid4().hex[:12]}"
        try:
            won = self.redis.set(self.key, f"busy:{token}", nx=True, px=self.lease_ms)
        except redis.RedisError as exc:
            # Without Redis nobody can coordinate; the history's _id still prevents duplicates.
            log.warning("cannot claim the fetch in Redis (%s); fetching anyway", exc)
            return Lease(token, coordinated=False)
        return Lease(token) if won else None

    def release(self, lease: Lease) -> None:
        """Turn our own busy claim into a `done` marker lasting the claim window."""
        if not lease.coordinated:
            return
        try:
            with self.redis.pipeline() as pipe:
                pipe.watch(self.key)
                current = pipe.get(self.key)
                if isinstance(current, bytes):
                    current = current.decode("utf-8", "replace")
                if current != f"busy:{lease.token}":
                    pipe.unwatch()
                    return  # expired, or someone else's now: never touch another's claim
                pipe.multi()
                pipe.set(self.key, f"done:{lease.token}", px=self.window_ms)
                pipe.execute()
        except redis.WatchError:
            return  # changed between GET and EXEC: it is no longer ours
        except redis.RedisError as exc:
            log.warning("cannot release the fetch claim (%s); it expires by itself", exc)

    def retry_in(self) -> float:
        """Return the seconds until the current claim ends (at least MIN_RETRY_SECONDS)."""
        try:
            left_ms = int(self.redis.pttl(self.key))
        except redis.RedisError:
            return self.window_ms / 1000
        if left_ms < 0:  # -2: no key, -1: no expiry (never set by us)
            return MIN_RETRY_SECONDS if left_ms == -2 else self.window_ms / 1000
        return max(MIN_RETRY_SECONDS, left_ms / 1000)
