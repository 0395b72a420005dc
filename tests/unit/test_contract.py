from __future__ import annotations

import pytest

from api_server.errors import StoreUnavailable
from api_server.store import Store
from tests.unit.conftest import Harness


@pytest.fixture
def loaded(harness: Harness) -> Harness:
    harness.ingest("test")
    return harness


@pytest.mark.parametrize("path", ["/api/stats", "/stats"])
def test_stats_shape(loaded: Harness, path: str) -> None:
    resp = loaded.client.get(f"{path}?coin=bitcoin")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert list(resp.get_json()) == ["price", "marketCap", "24hChange"]


@pytest.mark.parametrize("path", ["/api/deviation", "/deviation"])
def test_deviation_shape(loaded: Harness, path: str) -> None:
    resp = loaded.client.get(f"{path}?coin=ethereum")
    assert resp.status_code == 200
    assert resp.get_json() == {"deviation": 0}


@pytest.mark.parametrize("query", ["coin=BITCOIN", "coin=%20Bitcoin%20", "coin=bitcoin%09"])
def test_coin_is_trimmed_and_case_insensitive(loaded: Harness, query: str) -> None:
    assert loaded.client.get(f"/api/stats?{query}").status_code == 200


def test_health(harness: Harness) -> None:
    resp = harness.client.get("/health")
    assert resp.status_code == 200 and resp.get_json() == {"status": "OK"}


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/api/stats", 400, "missing"),
        ("/api/stats?coin=", 400, "missing"),
        ("/api/stats?coin=%20%20", 400, "missing"),
        ("/api/deviation", 400, "missing"),
        ("/api/stats?coin=dogecoin", 400, "not tracked"),
        ("/api/deviation?coin=polygon-ecosystem-token", 400, "not tracked"),
        ("/api/stats?coin=bitcoin&coin=ethereum", 400, "once"),
        ("/api/stats?coin=bitcoin", 404, "no data"),
        ("/api/nothing", 404, "not found"),
        ("/nothing-here", 404, "not found"),  # "/" serves the dashboard
    ],
)
def test_errors_are_json(harness: Harness, url: str, status: int, words: str) -> None:
    resp = harness.client.get(url)
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    assert words in resp.get_json()["error"]


def test_untracked_coin_lists_tracked_ones(harness: Harness) -> None:
    body = harness.client.get("/api/stats?coin=dogecoin").get_json()
    assert body["coins"] == ["bitcoin", "ethereum", "matic-network"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_wrong_method_is_json_405(harness: Harness, method: str) -> None:
    resp = getattr(harness.client, method)("/api/stats?coin=bitcoin")
    assert resp.status_code == 405
    assert resp.get_json() == {"error": "method not allowed"}
    assert "GET" in resp.headers["Allow"]


def test_long_query_is_json_414(harness: Harness) -> None:
    resp = harness.client.get("/api/stats?coin=" + "a" * 10_000)
    assert resp.status_code == 414 and "error" in resp.get_json()


def test_store_unreachable_is_503(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(self: Store) -> None:
        raise StoreUnavailable("data store unavailable (ServerSelectionTimeoutError)")

    monkeypatch.setattr(Store, "snapshots", down)
    resp = harness.client.get("/api/stats?coin=bitcoin")
    assert resp.status_code == 503
    assert "unavailable" in resp.get_json()["error"]


def test_unexpected_error_is_json_500(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Store) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(Store, "snapshots", boom)
    harness.app.testing = False
    resp = harness.client.get("/api/stats?coin=bitcoin")
    assert resp.status_code == 500 and resp.get_json() == {"error": "internal server error"}


@pytest.mark.parametrize(
    "path",
    [
        "/api//stats?coin=bitcoin",
        "/api/stats//?coin=bitcoin",
        "/api///deviation?coin=bitcoin",
        "/static//dashboard.css",
        "/docs//assets/swagger-ui.css",
        "/api/stats/?coin=bitcoin",
    ],
)
def test_doubled_slashes_are_a_json_404_never_a_redirect(harness: Harness, path: str) -> None:
    # werkzeug's merge_slashes answered an HTML 308 to http://<Host header>/api/stats...
    harness.ingest("test")
    path_info, _, query = path.partition("?")
    # PATH_INFO set directly: the test client would read "//api" as a host.
    resp = harness.client.get(
        "/", query_string=query, headers={"Host": "evil.example"},
        environ_overrides={"PATH_INFO": path_info},
    )  # fmt: skip
    assert resp.status_code == 404
    assert resp.mimetype == "application/json"
    assert resp.get_json() == {"error": "not found"}
    assert "Location" not in resp.headers


def test_leading_slashes_are_served_as_one(harness: Harness) -> None:
    # werkzeug strips leading slashes before matching: served, never redirected.
    harness.ingest("test")
    resp = harness.client.get(
        "/", query_string="coin=bitcoin", headers={"Host": "evil.example"},
        environ_overrides={"PATH_INFO": "//api/stats"},
    )  # fmt: skip
    assert resp.status_code == 200 and "Location" not in resp.headers
    assert set(resp.get_json()) == {"price", "marketCap", "24hChange"}
