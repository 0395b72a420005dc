"""An app with the action endpoints wired to mongomock and fakeredis, and keys to call it with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fakeredis
import mongomock
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api_server import create_app
from api_server.access_config import AccessSettings
from api_server.app_state import state_of
from api_server.store import Store
from cryptostats.config import Settings
from tests.unit.fakes import ScriptedSource

ADMIN_KEY = "admin-key-for-unit-tests-0123456789"
LOCAL = "127.0.0.1"
REMOTE = "203.0.113.9"


@dataclass
class ActionsApp:
    app: Flask
    client: FlaskClient
    redis: fakeredis.FakeRedis
    database: Any

    def call(
        self, method: str, path: str, *, key: str | None = None, addr: str = LOCAL, **kw: Any
    ) -> TestResponse:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.open(
            path, method=method, headers=headers, environ_base={"REMOTE_ADDR": addr}, **kw
        )

    def new_key(self, name: str = "user", role: str = "user") -> tuple[str, str]:
        """Create a key as the admin; return (id, key)."""
        resp = self.call("POST", "/api/keys", key=ADMIN_KEY, json={"name": name, "role": role})
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        return body["id"], body["key"]


def build(
    *,
    access: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    server: fakeredis.FakeServer | None = None,
    database: Any = None,
    redis_client: Any = None,
    ingest: bool = True,
) -> ActionsApp:
    """Build an app; rate limits are off unless `access` sets them."""
    settings = Settings.from_env({"INGEST_CLAIM_SECONDS": "5", **(env or {})})
    access_env = {
        "ADMIN_API_KEY": ADMIN_KEY,
        "RATE_LIMIT_WRITES": "off",
        "RATE_LIMIT_ASK": "off",
        **(access or {}),
    }
    database = database if database is not None else mongomock.MongoClient()["cryptostats"]
    client = redis_client or fakeredis.FakeRedis(server=server or fakeredis.FakeServer())
    app = create_app(
        settings,
        store=Store(database, embedded=True),
        redis_client=client,
        source=ScriptedSource(),
        access=AccessSettings.from_env(access_env),
    )
    if ingest:
        state_of(app).ingestor.ingest("test")
    return ActionsApp(app, app.test_client(), client, database)
