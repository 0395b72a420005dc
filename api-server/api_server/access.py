"""The collaborators of users and actions, kept in the app state (`AppState.access`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from api_server.access_config import AccessSettings
from api_server.app_state import app_state

if TYPE_CHECKING:
    from api_server.keys import KeyStore
    from api_server.watchlist import WatchlistStore


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
    found = app_state().access
    if found is None:
        raise RuntimeError("install_actions was not called for this app")
    return found
