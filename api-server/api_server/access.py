"""The per-app collaborators of users and actions, kept on the app like services.Services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from flask import current_app

from api_server.access_config import AccessSettings

if TYPE_CHECKING:
    from api_server.keys import KeyStore
    from api_server.watchlist import WatchlistStore

EXTENSION = "cryptostats.access"


@dataclass
class Access:
    """Keys, watchlists and the settings that say who may do what."""

    settings: AccessSettings
    keys: KeyStore
    watchlists: WatchlistStore
    redis: redis.Redis
    channel: str


def access() -> Access:
    """Return the current app's access collaborators."""
    found: Access = current_app.extensions[EXTENSION]
    return found
