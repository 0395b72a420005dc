from __future__ import annotations

import io
import json
import logging
import random
import string
from collections.abc import Callable, Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from api_server.errors import UpstreamError
from api_server.observability import request_id_from
from cryptostats.logs import JsonFormatter
from tests.unit.conftest import Harness


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """Capture the JSON lines the app logs (as they would reach stderr)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("has space", False),
        ("new\nline", False),
        ('quote"', False),
        (None, False),
    ],
)
def test_request_id_validation(sent: str | None, kept: bool) -> None:
    got = request_id_from(sent)
    assert (got == sent) is kept
    assert 1 <= len(got) <= 128


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/health"),
        ("get", "/api/stats"),
        ("get", "/api/stats?coin=bitcoin"),
        ("get", "/nowhere"),
        ("post", "/api/stats?coin=bitcoin"),
        ("get", "/api/stats?coin=" + "x" * 5000),
        ("post", "/api/ask"),
    ],
)
def test_every_response_carries_the_request_id(harness: Harness, method: str, url: str) -> None:
    sent = getattr(harness.client, method)(url, headers={"X-Request-ID": "client-id-1"})
    assert sent.headers["X-Request-ID"] == "client-id-1"
    made = getattr(harness.client, method)(url, headers={"X-Request-ID": "bad id!"})
    assert made.headers["X-Request-ID"] != "bad id!"
    assert len(made.headers["X-Request-ID"]) == 32


def test_big_body_413_carries_the_request_id(harness: Harness) -> None:
    resp = harness.client.post("/api/ask", data="x" * 10_000, headers={"X-Request-ID": "r-413"})
    assert resp.status_code == 413 and resp.headers["X-Request-ID"] == "r-413"


def test_one_access_line_per_request_with_its_id(
    harness: Harness, log_lines: Callable[[], list[dict]]
) -> None:
    harness.client.get("/api/stats?coin=bitcoin", headers={"X-Request-ID": "req-1"})
    harness.client.get("/health")
    requests_logged = [line for line in log_lines() if line.get("event") == "request"]
    assert len(requests_logged) == 2
    first = requests_logged[0]
    assert first["method"] == "GET" and first["path"] == "/api/stats"
    assert first["status"] == 404 and first["request_id"] == "req-1"
    assert first["duration_ms"] >= 0 and first["level"] == "INFO"
    assert requests_logged[1]["request_id"] != "req-1"
    assert first["client"] == "127.0.0.1"


def test_the_access_log_names_the_client_only_through_a_trusted_proxy(
    make_harness: Callable[..., Harness], log_lines: Callable[[], list[dict]]
) -> None:
    harness = make_harness({"TRUSTED_PROXIES": "127.0.0.1"})
    harness.client.get("/health", headers={"X-Forwarded-For": "203.0.113.7"})
    harness.client.get(
        "/health",
        headers={"X-Forwarded-For": "203.0.113.8"},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    clients = [line["client"] for line in log_lines() if line.get("event") == "request"]
    assert clients == ["203.0.113.7", "192.0.2.1"]


def test_every_line_of_a_request_has_its_id(
    harness: Harness, log_lines: Callable[[], list[dict]]
) -> None:
    harness.state.redis = redis.Redis(
        port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    harness.client.get("/api/status", headers={"X-Request-ID": "req-status"})
    harness.client.get("/health")
    during = [line for line in log_lines() if "heartbeat" in line["message"]]
    assert during and all(line["request_id"] == "req-status" for line in during)
    after = [line for line in log_lines() if line.get("path") == "/health"]
    assert after[0]["request_id"] != "req-status"


def test_ingest_is_one_structured_line(
    harness: Harness, log_lines: Callable[[], list[dict]]
) -> None:
    harness.ingest("test")
    ingests = [line for line in log_lines() if line.get("event") == "ingest"]
    assert len(ingests) == 1
    line = ingests[0]
    assert line["outcome"] == "ok" and line["stored"] == 3 and line["upstream_calls"] == 1
    assert line["reason"] == "test" and "duration_ms" in line and "request_id" not in line


def metric_samples(harness: Harness) -> dict[tuple[str, tuple], float]:
    resp = harness.client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_requests_by_endpoint_and_status(harness: Harness) -> None:
    harness.ingest("test")
    for _ in range(3):
        harness.client.get("/api/stats?coin=bitcoin")
    harness.client.get("/api/stats?coin=dogecoin")
    harness.client.get("/secret/admin/page")
    samples = metric_samples(harness)

    def requests(endpoint: str, status: str) -> float:
        labels = (("endpoint", endpoint), ("method", "GET"), ("status", status))
        return samples.get(("cryptostats_http_requests_total", labels), 0)

    assert requests("/api/stats", "200") == 3
    assert requests("/api/stats", "400") == 1
    assert requests("unmatched", "404") == 1
    count = samples[
        (
            "cryptostats_http_request_duration_seconds_count",
            (("endpoint", "/api/stats"), ("status", "200")),
        )
    ]
    assert count == 3
    assert samples[("cryptostats_ingests_total", (("outcome", "ok"),))] == 1
    assert samples[("cryptostats_upstream_calls_total", ())] == 1
    age = samples[("cryptostats_data_age_seconds", (("coin", "bitcoin"),))]
    assert age > 3600  # the scripted data is from 2026-01-01


def test_metrics_count_upstream_errors_by_kind(harness: Harness) -> None:
    error = UpstreamError("timeout", "read timed out")
    error.calls = 1
    harness.source.error = error
    harness.ingest("test")
    samples = metric_samples(harness)
    assert samples[("cryptostats_upstream_errors_total", (("kind", "timeout"),))] == 1
    assert samples[("cryptostats_ingests_total", (("outcome", "upstream_error"),))] == 1
    assert samples[("cryptostats_upstream_calls_total", ())] == 1
    assert not any(name == "cryptostats_data_age_seconds" for name, _ in samples)


def test_random_methods_do_not_grow_the_metrics(harness: Harness) -> None:
    rng = random.Random(10)
    harness.client.open("/api/stats?coin=bitcoin", method="BREW")
    harness.client.get("/metrics")  # the scrape's own series exist from now on
    before = len(harness.client.get("/metrics").data)
    # Any new series per method would show at once; 500 distinct random methods are plenty.
    for _ in range(500):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        harness.client.open("/api/stats?coin=bitcoin", method=method)
    text = harness.client.get("/metrics").data
    assert len(text) <= before + 100  # counts grow by a few digits; no series per method
    methods = {
        sample.labels["method"]
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if "method" in sample.labels
    }
    assert methods == {"GET", "other"}


def test_methods_the_app_routes_keep_their_label(harness: Harness) -> None:
    harness.client.post("/api/ask", json={"query": "price of bitcoin"})
    harness.client.options("/api/stats")
    harness.client.delete("/api/stats")  # DELETE is routed (keys, watchlists): keeps its label
    harness.client.open("/api/stats", method="PATCH")  # routed nowhere: "other"
    labels = {
        key[1] for key in metric_samples(harness) if key[0] == "cryptostats_http_requests_total"
    }
    methods = {dict(label)["method"] for label in labels}
    assert methods == {"POST", "OPTIONS", "DELETE", "other"}
