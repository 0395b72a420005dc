"""Price alerts with real processes: the seed client's /set-alert and /check-alerts."""

from __future__ import annotations

import time

import pytest
import requests

from cryptostats_dev.fault_common import wait_for_ingest
from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import wait_until

pytestmark = pytest.mark.integration


def test_seed_client_alert_from_localhost(stack: Lab) -> None:
    sim = stack.simulator()
    api = stack.api(sim)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    price = api.stats("bitcoin")["price"]

    # As the seed Streamlit client does it: no headers, an upper threshold the next price passes.
    body = {"coin": "bitcoin", "upperThreshold": price * 0.9, "lowerThreshold": None}
    resp = requests.post(f"{api.url}/set-alert", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert requests.get(f"{api.url}/check-alerts", timeout=10).json() == []
    time.sleep(0.6)  # past the ingest claim window of the start-up fetch
    assert stack.publish() == 1

    def items() -> list[dict]:
        resp = requests.get(f"{api.url}/check-alerts", timeout=10)
        assert resp.status_code == 200
        return list(resp.json())

    first = wait_until(items, 15, "the alert to fire")
    assert len(first) == 1
    assert first[0]["coin"] == "bitcoin" and first[0]["type"] == "upper"
    assert first[0]["threshold"] == price * 0.9 and first[0]["price"] > price * 0.9
    time.sleep(0.6)
    previous = api.last_ingest()["startedAt"]
    assert stack.publish() == 1  # the price is still above: no second event
    assert wait_for_ingest(api, previous)["outcome"] == "ok"
    time.sleep(0.5)
    assert items() == first  # the same item, not two
