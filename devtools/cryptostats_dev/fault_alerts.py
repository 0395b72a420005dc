"""Fault scenarios of price alerts, with real processes and a local webhook receiver.

Every API here runs with ALERT_WEBHOOK_ALLOW_PRIVATE=true (the receiver is on 127.0.0.1) and
write limits off (the scenarios create many alerts). Trigger-to-served is the time from
publishing a trigger to /api/stats serving the new price.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import requests

from api_server.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from cryptostats_dev.fault_common import Outcome, ScenarioFailed, expect, wait_for_data
from cryptostats_dev.lab import Api, Lab, SimulatorProcess
from cryptostats_dev.procs import free_port, wait_until
from cryptostats_dev.webhook_receiver import WebhookReceiver

ALERT_ENV = {"ALERT_WEBHOOK_ALLOW_PRIVATE": "true", "RATE_LIMIT_WRITES": "off"}
ADMIN_KEY = "fault-alerts-admin-key-0123456789abcdef"
COIN = "bitcoin"
TRIGGER_GAP = 1.1
"""Seconds between measured triggers: past the claim window, and a new simulated price."""


def _api(lab: Lab, sim: SimulatorProcess, name: str = "api") -> Api:
    api = lab.api(sim, name=name, env={**ALERT_ENV, "ADMIN_API_KEY": ADMIN_KEY})
    wait_for_data(api)
    return api


def create_alert(api: Api, key: str | None = None, **body: Any) -> dict[str, Any]:
    """Create an alert on COIN; return the answer (with its secret)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = requests.post(
        f"{api.url}/api/alerts", json={"coin": COIN, **body}, headers=headers, timeout=10
    )
    expect(resp.status_code == 201, f"alert not created: {resp.status_code} {resp.text[:200]}")
    answer: dict[str, Any] = resp.json()
    return answer


def trigger_to_served(lab: Lab, api: Api) -> float:
    """Publish a trigger; return the seconds until /api/stats serves a new price."""
    time.sleep(TRIGGER_GAP)
    before = api.stats(COIN)["price"]
    started = time.monotonic()
    lab.publish()
    while api.stats(COIN)["price"] == before:
        if time.monotonic() - started > 10:
            raise ScenarioFailed("the new price was not served within 10 s")
        time.sleep(0.002)
    return time.monotonic() - started


def publish(lab: Lab) -> None:
    """Publish a trigger once the previous ingest's claim window has passed."""
    time.sleep(TRIGGER_GAP)
    expect(lab.publish() >= 1, "no API received the trigger")


def median_trigger_to_served(lab: Lab, api: Api, runs: int = 5) -> float:
    """The median of `runs` trigger-to-served times."""
    return statistics.median(trigger_to_served(lab, api) for _ in range(runs))


def deliveries_of(api: Api, alert_id: str) -> list[dict[str, Any]]:
    """The deliveries GET /api/alerts/{id} shows."""
    found: list[dict[str, Any]] = api.get(f"/api/alerts/{alert_id}").json()["deliveries"]
    return found


def check_signed_once(receiver: WebhookReceiver, secret: str) -> int:
    """Check every POST is signed with the secret; return how many distinct event ids came."""
    ids = [got.headers[EVENT_ID_HEADER] for got in receiver.received]
    for got in receiver.received:
        expect(got.headers[SIGNATURE_HEADER] == sign(secret, got.body), "bad signature")
        expect(json.loads(got.body)["id"] == got.headers[EVENT_ID_HEADER], "event id mismatch")
    expect(len(ids) == len(set(ids)), f"an event was delivered twice: {ids}")
    return len(ids)


def webhook_receiver_down_then_back(lab: Lab) -> Outcome:
    """The receiver is down when the alert fires; once it is back, the event arrives once."""
    api = _api(lab, lab.simulator())
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    alert = create_alert(api, above=api.stats(COIN)["price"] / 2, webhook=url)
    publish(lab)
    wait_until(
        lambda: any(d["attempts"] for d in deliveries_of(api, alert["id"])),
        15,
        "a failed attempt",
        error=ScenarioFailed,
    )
    [delivery] = deliveries_of(api, alert["id"])
    expect(delivery["state"] == "pending", f"delivery {delivery['state']} while receiver down")
    receiver = WebhookReceiver().start(port)
    try:
        back = time.monotonic()
        wait_until(lambda: receiver.received, 30, "the delivery after", error=ScenarioFailed)
        recovered = time.monotonic() - back
        time.sleep(2)
        delivered = check_signed_once(receiver, alert["secret"])
    finally:
        receiver.stop()
    [delivery] = deliveries_of(api, alert["id"])
    expect(delivery["state"] == "delivered", f"delivery {delivery['state']}")
    failed = sum(1 for a in delivery["attempts"] if a["status"] != 200)
    return Outcome(
        "webhook receiver down, then back",
        f"{failed} failed attempt(s) recorded, then delivered {delivered}x (once per event id)",
        recovered,
        0,
        0,
    )


def webhook_receiver_slow(lab: Lab) -> Outcome:
    """A receiver answering after 10 s ties up deliveries, never the ingest or serving."""
    api = _api(lab, lab.simulator())
    baseline = median_trigger_to_served(lab, api)
    receiver = WebhookReceiver(delay=10.0).start()
    try:
        price = api.stats(COIN)["price"]
        for _ in range(3):
            create_alert(api, above=price / 2, webhook=receiver.url)
        publish(lab)
        wait_until(receiver.began.is_set, 15, "the slow receiver's call", error=ScenarioFailed)
        slow = median_trigger_to_served(lab, api)
    finally:
        receiver.stop()
    expect(
        slow <= baseline * 1.10 + 0.010,
        f"trigger-to-served {slow * 1000:.1f} ms with a slow receiver vs {baseline * 1000:.1f} ms",
    )
    return Outcome(
        "webhook receiver answering after 10 s",
        f"trigger-to-served {slow * 1000:.1f} ms vs {baseline * 1000:.1f} ms without (median of 5)",
        None,
        0,
        0,
    )


def two_apis_one_delivery(lab: Lab) -> Outcome:
    """Two API processes on one channel: an alert fires once and is delivered once."""
    sim = lab.simulator()
    first = _api(lab, sim, "api-1")
    second = _api(lab, sim, "api-2")
    wait_until(lambda: lab.subscribers() == 2, 10, "both APIs to subscribe", error=ScenarioFailed)
    receiver = WebhookReceiver().start()
    try:
        alert = create_alert(first, above=first.stats(COIN)["price"] / 2, webhook=receiver.url)
        for _ in range(3):
            time.sleep(TRIGGER_GAP)
            expect(lab.publish() == 2, "a trigger missed an API")
        wait_until(lambda: receiver.received, 15, "the delivery", error=ScenarioFailed)
        time.sleep(2)
        delivered = check_signed_once(receiver, alert["secret"])
    finally:
        receiver.stop()
    events = first.get("/api/alerts/events").json()["events"]
    events += second.get("/api/alerts/events").json()["events"]
    expect(len(events) == 1, f"{len(events)} events for one crossing")
    expect(delivered == 1, f"{delivered} deliveries")
    return Outcome(
        "two API processes, one alert crossing (3 triggers)",
        "1 event, 1 delivery",
        None,
        0,
        0,
    )


def thousand_alerts_crossing(lab: Lab) -> Outcome:
    """1,000 alerts on one coin crossing at once: the new price is still served quickly."""
    api = _api(lab, lab.simulator())
    baseline = median_trigger_to_served(lab, api, runs=3)
    price = api.stats(COIN)["price"]
    keys = []
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for n in range(10):
        resp = requests.post(
            f"{api.url}/api/keys", json={"name": f"k{n}"}, headers=admin, timeout=10
        )
        keys.append(resp.json()["key"])
    with requests.Session() as session:
        for key in keys:
            for _ in range(100):
                resp = session.post(
                    f"{api.url}/api/alerts",
                    json={"coin": COIN, "above": price / 2},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
                expect(resp.status_code == 201, f"alert not created: {resp.status_code}")
    served = trigger_to_served(lab, api)

    def fired() -> int:
        return sum(
            len(
                api.get("/api/alerts/events", headers={"Authorization": f"Bearer {k}"}).json()[
                    "events"
                ]
            )
            for k in keys
        )

    wait_until(lambda: fired() == 1000, 30, "1,000 events", error=ScenarioFailed)
    expect(served < 0.5, f"trigger-to-served {served * 1000:.0f} ms with 1,000 alerts firing")
    return Outcome(
        "1,000 alerts on one coin crossing at once",
        f"1,000 events; trigger-to-served {served * 1000:.0f} ms "
        f"(vs {baseline * 1000:.0f} ms without alerts)",
        None,
        0,
        0,
    )
