"""Read the worker's heartbeat from Redis, for the API's /ready and the worker's health check."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from cryptostats.messages import Heartbeat, InvalidMessage, heartbeat_key

HEARTBEAT_MAX_AGE = 15.0
"""Seconds after which a worker heartbeat counts as stale (the worker writes one every 5 s)."""


@dataclass(frozen=True)
class HeartbeatAge:
    """What is known about the worker's last heartbeat."""

    heartbeat: Heartbeat | None
    age_seconds: float | None
    problem: str | None = None

    @property
    def fresh(self) -> bool:
        """Whether a heartbeat exists and is younger than HEARTBEAT_MAX_AGE."""
        return self.age_seconds is not None and self.age_seconds <= HEARTBEAT_MAX_AGE


def read_heartbeat(client: redis.Redis, channel: str, now: float | None = None) -> HeartbeatAge:
    """Return the worker's heartbeat for this channel and its age in seconds, never raising."""
    try:
        raw = client.get(heartbeat_key(channel))
    except redis.RedisError as exc:
        return HeartbeatAge(None, None, f"Redis unreachable ({type(exc).__name__})")
    if raw is None:
        return HeartbeatAge(None, None, "no heartbeat in Redis (worker not running?)")
    try:
        beat = Heartbeat.parse(raw)
    except InvalidMessage:
        return HeartbeatAge(None, None, "heartbeat key holds something else")
    age = max(0.0, (time.time() if now is None else now) - beat.at)
    problem = None if age <= HEARTBEAT_MAX_AGE else f"heartbeat is {age:.0f} s old"
    return HeartbeatAge(beat, round(age, 3), problem)
