"""API keys: random tokens shown once, stored only as their SHA-256 hash.

A key is `cs_` + 43 URL-safe characters (256 random bits), so a plain SHA-256 cannot be
reversed or brute-forced; a slow password hash would only slow every request. The hash is the
document's `_id`: a request looks its key up by hash in the store, so a revoked (deleted) key is
refused at once by every process and replica. Every query here runs the same on MongoDB and
mongomock (find_one, find, insert_one, delete_one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo

from api_server.store import store_errors

KEYS = "api_keys"
"""The collection of API keys (hash, public id, name, role, creation time)."""

TOKEN_PREFIX = "cs_"
"""Marks a cryptostats key, so a leaked one is recognisable (e.g. by secret scanners)."""

TOKEN_BYTES = 32
"""Random bytes per key: 256 bits."""

ROLES = ("user", "admin")


@dataclass(frozen=True)
class ApiKey:
    """A key as listed: never the token, never its hash."""

    id: str
    name: str
    role: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the key's public description."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "createdAt": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


def new_token() -> str:
    """Return a new random key."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """Return the stored form of a key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: str, expected: str) -> bool:
    """Compare two keys in constant time (by their hashes, so lengths leak nothing either)."""
    return hmac.compare_digest(token_hash(given), token_hash(expected))


class KeyStore:
    """API keys in one MongoDB database (real or embedded)."""

    def __init__(self, database: Any) -> None:
        self.collection = database[KEYS]

    def ensure_indexes(self) -> None:
        """Create the index that finds a key by its public id; idempotent."""
        with store_errors():
            self.collection.create_index([("id", pymongo.ASCENDING)], name="id", unique=True)

    def create(self, name: str, role: str = "user") -> tuple[ApiKey, str]:
        """Create a key; return it with its token (the only time the token exists)."""
        token = new_token()
        key = ApiKey(
            id=secrets.token_hex(8),
            name=name,
            role=role,
            created_at=datetime.now(UTC).replace(microsecond=0),
        )
        doc = {
            "_id": token_hash(token),
            "id": key.id,
            "name": name,
            "role": role,
            "createdAt": key.created_at.replace(tzinfo=None),
        }
        with store_errors():
            self.collection.insert_one(doc)
        return key, token

    def find(self, token: str) -> ApiKey | None:
        """Return the live key with this token, or None (unknown or revoked)."""
        digest = token_hash(token)
        with store_errors():
            doc = self.collection.find_one({"_id": digest})
        if doc is None or not hmac.compare_digest(str(doc["_id"]), digest):
            return None
        return _key(doc)

    def list(self) -> list[ApiKey]:
        """Return every live key, oldest first."""
        with store_errors():
            docs = list(self.collection.find({}, {"_id": 0}).sort("createdAt", pymongo.ASCENDING))
        return [_key(doc) for doc in docs]

    def revoke(self, key_id: str) -> bool:
        """Delete a key by its public id; return False when there was none."""
        with store_errors():
            return bool(self.collection.delete_one({"id": key_id}).deleted_count)


def _key(doc: dict[str, Any]) -> ApiKey:
    created = doc["createdAt"]
    return ApiKey(
        id=str(doc["id"]),
        name=str(doc.get("name", "")),
        role=str(doc.get("role", "user")),
        created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created,
    )
