"""The OpenAPI document, and a property-based run of every documented operation against it."""

from __future__ import annotations

import fakeredis
import mongomock
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from api_server import create_app
from api_server.access_config import AccessSettings
from api_server.app_state import state_of
from api_server.docs import document_api
from api_server.store import Store
from cryptostats.config import Settings
from tests.unit.fakes import ScriptedSource


def loaded_app():  # type: ignore[no-untyped-def]
    """An app with data for bitcoin and ethereum and none yet for matic-network."""
    source = ScriptedSource(lambda coin, n: None if coin == "matic-network" else 100.0 + n)
    app = create_app(
        Settings.from_env({}),
        store=Store(mongomock.MongoClient()["cryptostats"], embedded=True),
        redis_client=fakeredis.FakeRedis(),
        source=source,
        # Limits off so every example reaches the endpoint; test_limits checks the 429s.
        access=AccessSettings.from_env({"RATE_LIMIT_WRITES": "off", "RATE_LIMIT_ASK": "off"}),
    )
    state_of(app).ingestor.ingest("test")
    return app


APP = loaded_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_document(case: schemathesis.Case) -> None:
    # /ready documents 503 as its answer while a check fails (here: no data for matic-network,
    # no subscriber thread); every other operation must never answer 5xx.
    excluded = [not_a_server_error] if case.path == "/ready" else []
    if case.path == "/api/history":
        # `interval` allows at most 1,000 buckets over `days` (5m: days <= 3): a dependency
        # between parameters that OpenAPI cannot state; the 400 names the largest days.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(excluded_checks=excluded)


def test_history_documents_json_and_csv() -> None:
    doc = APP.test_client().get("/openapi.json").get_json()
    content = doc["paths"]["/api/history"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    names = {p.get("name") for p in doc["paths"]["/api/history"]["get"]["parameters"]}
    assert {"interval", "format", "days"} <= names
    assert "/api/admin/backfill" not in doc["paths"]


def test_document_lists_every_endpoint() -> None:
    doc = APP.test_client().get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.0")
    assert set(doc["paths"]) == {
        "/health",
        "/api/stats",
        "/stats",
        "/api/deviation",
        "/deviation",
        "/api/coins",
        "/api/history",
        "/api/status",
        "/api/ask",
        "/metrics",
        "/ready",
        "/api/refresh",
        "/trigger-update",
        "/api/keys",
        "/api/keys/{key_id}",
        "/api/watchlist",
        "/api/watchlist/{coin}",
        "/api/alerts",
        "/api/alerts/events",
        "/api/alerts/{alert_id}",
        "/set-alert",
        "/check-alerts",
    }
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from POST /api/keys, or the bootstrap ADMIN_API_KEY",
    }
    for path in ("/api/keys", "/api/watchlist", "/api/refresh", "/api/alerts", "/set-alert"):
        for operation in doc["paths"][path].values():
            if operation.get("security") is not None:
                assert {"bearer": []} in operation["security"]
                assert "401" in operation["responses"]
    assert "429" in doc["paths"]["/api/refresh"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/ask"]["post"]["responses"]
    stats = doc["components"]["schemas"]["Stats"]
    assert set(stats["properties"]) == {"price", "marketCap", "24hChange"}
    assert stats["additionalProperties"] is False


@pytest.mark.parametrize("path", ["/docs", "/docs/assets/swagger-ui-bundle.js"])
def test_docs_are_served_by_the_app(path: str) -> None:
    resp = APP.test_client().get(path)
    assert resp.status_code == 200
    resp.close()


def test_unchanged_contract_shapes() -> None:
    client = APP.test_client()
    assert list(client.get("/api/stats?coin=bitcoin").get_json()) == [
        "price",
        "marketCap",
        "24hChange",
    ]
    assert list(client.get("/api/deviation?coin=bitcoin").get_json()) == ["deviation"]
    assert (
        client.get("/api/stats?coin=bitcoin").data
        == b'{"price": 101.0, "marketCap": 101000.0, "24hChange": 1.5}'
    )
    assert client.get("/api/deviation?coin=bitcoin").data == b'{"deviation": 0.0}'


def test_the_document_built_at_start_is_the_one_served_on_demand() -> None:
    # start() builds the document before serving; an app never started builds it on the first
    # /openapi.json. Both are the same bytes, and building twice adds nothing.
    started = loaded_app()
    document_api(started)
    document_api(started)
    on_demand = loaded_app()
    served = on_demand.test_client().get("/openapi.json").data
    assert started.test_client().get("/openapi.json").data == served
    assert on_demand.test_client().get("/openapi.json").data == served
    assert served == APP.test_client().get("/openapi.json").data
