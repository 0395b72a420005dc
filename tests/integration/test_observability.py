"""Logs, metrics and docs of the real API process under gunicorn."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import wait_until

pytestmark = pytest.mark.integration

API_KEY = "CG-integration-secret-key-8f3a"


def json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails the test on any non-JSON line


def test_logs_are_json_lines_with_request_ids_and_never_the_key(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim, COINGECKO_API_KEY=API_KEY, INGEST_CLAIM_SECONDS="0.2")
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    assert (
        api.get("/api/stats?coin=bitcoin", headers={"X-Request-ID": "it-42"}).headers[
            "X-Request-ID"
        ]
        == "it-42"
    )
    # Upstream failures put exception texts in the logs: they must not carry the key either.
    sim.fault("error_200")
    time.sleep(0.5)  # past the claim window of the first ingest
    worker = stack.worker(COINGECKO_API_KEY=API_KEY)
    wait_until(
        lambda: '"outcome": "upstream_error"' in api.process.log_text(), 30, "a failed ingest"
    )
    worker.stop()
    api.process.stop()
    for process in (api.process, worker):
        text = process.log_path.read_text(encoding="utf-8")
        assert API_KEY not in text and "secret-key" not in text
        json_lines(process.log_path)
    lines = json_lines(api.process.log_path)
    ours = [line for line in lines if line.get("request_id") == "it-42"]
    assert [line["event"] for line in ours] == ["request"]
    assert ours[0]["path"] == "/api/stats" and ours[0]["status"] == 200
    ingests = [line for line in lines if line.get("event") == "ingest"]
    assert {line["outcome"] for line in ingests} >= {"ok", "upstream_error"}
    assert any("gunicorn" in line["logger"] for line in lines)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


HEALTH_200 = (
    "cryptostats_http_requests_total",
    (("endpoint", "/health"), ("method", "GET"), ("status", "200")),
)


def test_metrics_add_up_over_two_gunicorn_workers(stack: Lab, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # Two processes need a shared store; an unreachable MongoDB makes reads 503, which is fine
    # here: /health and /metrics need no store.
    api = stack.api(
        None,
        MONGO_URI="mongodb://127.0.0.1:9/",
        COINGECKO_API_URL="http://127.0.0.1:9",  # refused at once: the start-up fetch is short
        API_WORKERS="2",
        TMPDIR=str(scratch),
    )
    assert [p.name for p in scratch.iterdir()][0].startswith("cryptostats-metrics-")

    def pids_serving_health() -> set[int]:
        lines = json_lines(api.process.log_path)
        return {line["pid"] for line in lines if line.get("path") == "/health"}

    def spread() -> bool:
        for _ in range(20):
            requests.get(f"{api.url}/health", timeout=10)
        return len(pids_serving_health()) >= 2

    wait_until(spread, 30, "/health answered by both workers")
    logged = len([x for x in json_lines(api.process.log_path) if x.get("path") == "/health"])
    for _ in range(6):  # scrapes land on either worker; each must see every process's counts
        assert scrape(api.url)[HEALTH_200] == logged
    assert api.get("/api/stats?coin=bitcoin").status_code == 503
    # With the store unreachable a worker may need more than the default 5 s to finish its
    # subscriber's store calls; give gunicorn time to exit on its own and run on_exit.
    assert api.process.stop(timeout=20) == 0
    assert not list(scratch.iterdir()), "the metrics directory was left behind"


def test_docs_page_renders_offline_in_a_real_browser(stack: Lab, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: run `sudo make system-deps`")
    api = stack.api(None, COINGECKO_API_URL="http://127.0.0.1:9")
    html = api.get("/docs").text
    assert not re.search(r"(src|href)=\"https?://", html), "the page loads something remote"
    cmd = [
        chromium,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        # No host but the API's resolves: the page must not need the internet.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--dump-dom",
        f"{api.url}/docs",
    ]
    started = time.monotonic()
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    assert time.monotonic() - started < 60
    assert 'class="swagger-ui' in dom
    for path in ("/api/stats", "/api/deviation", "/api/coins", "/api/history", "/api/ask"):
        assert path in dom, f"{path} is not shown by Swagger UI"
    assert "opblock" in dom
