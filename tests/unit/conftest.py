"""Unit fixtures: an app wired to mongomock, fakeredis and a scripted market source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import fakeredis
import mongomock
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api_server import create_app
from api_server.services import Services
from api_server.store import Store
from cryptostats.config import Settings
from tests.unit.fakes import ScriptedSource


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    source: ScriptedSource
    store: Store
    redis: fakeredis.FakeRedis
    settings: Settings

    @property
    def services(self) -> Services:
        found: Services = self.app.extensions["cryptostats"]
        return found


@pytest.fixture
def fake_redis_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def make_harness(fake_redis_server: fakeredis.FakeServer) -> Callable[..., Harness]:
    """Build apps that share one fake Redis server and one in-memory database."""
    database = mongomock.MongoClient()["cryptostats"]

    def build(env: dict[str, str] | None = None, source: ScriptedSource | None = None) -> Harness:
        settings = Settings.from_env({"INGEST_CLAIM_SECONDS": "5", **(env or {})})
        store = Store(database, embedded=True)
        client = fakeredis.FakeRedis(server=fake_redis_server)
        source = source or ScriptedSource()
        app = create_app(settings, store=store, redis_client=client, source=source)
        return Harness(app, app.test_client(), source, store, client, settings)

    return build


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
