"""The Redis keys and channels only API processes use (the worker knows none of them)."""

from __future__ import annotations

from cryptostats.messages import KEY_PREFIX


def ingested_channel(channel: str) -> str:
    """Return the channel on which an API process announces that it stored new data."""
    return f"{channel}.ingested"


def claim_key(channel: str) -> str:
    """Return the key an API process sets to claim the next upstream fetch."""
    return f"{KEY_PREFIX}:{channel}:ingest-claim"


def backfill_claim_key(channel: str) -> str:
    """Return the key one API process sets to run the backfill for every process."""
    return f"{KEY_PREFIX}:{channel}:backfill-claim"
