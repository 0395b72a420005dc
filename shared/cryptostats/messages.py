"""The message the worker publishes and the API subscribes to, and the Redis keys both use."""

from __future__ import annotations

import json
from dataclasses import dataclass

TRIGGER_VALUE = "update"
"""The only trigger value the API acts on."""

KEY_PREFIX = "cryptostats"
"""Prefix of every Redis key the project writes."""

MAX_TRIGGER_BYTES = 1024
"""Longest message parsed as a trigger (a trigger is 21 bytes); longer ones are rejected unread."""


@dataclass(frozen=True)
class UpdateTrigger:
    """Ask every API process to refresh market data from upstream."""

    def encode(self) -> str:
        """Return the wire form published on the channel."""
        return json.dumps({"trigger": TRIGGER_VALUE})


class InvalidMessage(ValueError):
    """A message on the channel that is not an update trigger."""


def parse_trigger(raw: bytes | str) -> UpdateTrigger:
    """Parse a channel message into an UpdateTrigger, raising InvalidMessage otherwise.

    Bounded: a message over MAX_TRIGGER_BYTES is rejected before it is decoded or parsed.
    """
    if not isinstance(raw, bytes | str):
        raise InvalidMessage(f"not a message ({type(raw).__name__})")
    if len(raw) > MAX_TRIGGER_BYTES:
        raise InvalidMessage(f"{len(raw)} bytes, over the {MAX_TRIGGER_BYTES}-byte limit")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidMessage("not JSON") from None
    if not isinstance(payload, dict) or payload.get("trigger") != TRIGGER_VALUE:
        raise InvalidMessage('expected {"trigger": "update"}')
    return UpdateTrigger()


@dataclass(frozen=True)
class Heartbeat:
    """The worker's proof of life: when it last ran its loop and when it triggers next."""

    at: float
    interval_seconds: int
    next_trigger_at: float | None = None

    def encode(self) -> str:
        """Return the form stored in Redis."""
        return json.dumps(
            {
                "at": round(self.at, 3),
                "intervalSeconds": self.interval_seconds,
                "nextTriggerAt": None
                if self.next_trigger_at is None
                else round(self.next_trigger_at, 3),
            }
        )

    @classmethod
    def parse(cls, raw: bytes | str) -> Heartbeat:
        """Parse a stored heartbeat, raising InvalidMessage when it is not one."""
        try:
            payload = json.loads(raw)
            nxt = payload.get("nextTriggerAt")
            return cls(
                at=float(payload["at"]),
                interval_seconds=int(payload["intervalSeconds"]),
                next_trigger_at=None if nxt is None else float(nxt),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InvalidMessage("not a heartbeat") from None


def heartbeat_key(channel: str) -> str:
    """Return the key holding the worker's last heartbeat (Unix seconds) for this channel."""
    return f"{KEY_PREFIX}:{channel}:worker-heartbeat"
