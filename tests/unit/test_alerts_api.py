"""The alert endpoints through the app: validation, who owns what, the seed client's flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api_server.app_state import state_of
from cryptostats_dev.webhook_receiver import WebhookReceiver
from tests.unit.actions_harness import ADMIN_KEY, REMOTE, ActionsApp, build


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> ActionsApp:
    monkeypatch.setenv("ALERT_WEBHOOK_ALLOW_PRIVATE", "true")
    return build()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver().start()
    yield found
    found.stop()


def ingest(api: ActionsApp) -> None:
    state_of(api.app).ingestor.run("test")  # prices rise by 1 each ingest (ScriptedSource)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"above": 5}, "coin"),
        ({"coin": "bitcoin"}, "above"),
        ({"coin": "bitcoin", "above": 5, "below": 3}, "above"),
        ({"coin": "bitcoin", "above": -1}, "above"),
        ({"coin": "bitcoin", "above": 0}, "above"),
        ({"coin": "bitcoin", "below": "7"}, "below"),
        ({"coin": "bitcoin", "below": True}, "below"),
        ({"coin": "bitcoin", "above": 5, "webhook": "ftp://x/y"}, "webhook"),
        ({"coin": "bitcoin", "above": 5, "webhook": 3}, "webhook"),
    ],
)
def test_bad_fields_are_a_400_naming_the_field(api: ActionsApp, body: dict, field: str) -> None:
    resp = api.call("POST", "/api/alerts", json=body)
    assert resp.status_code == 400 and resp.get_json()["field"] == field


def test_bad_bodies_and_untracked_coins(api: ActionsApp) -> None:
    assert api.call("POST", "/api/alerts", data="[1]").status_code == 400
    assert api.call("POST", "/api/alerts", data="{").status_code == 400
    resp = api.call("POST", "/api/alerts", json={"coin": "dogecoin", "above": 1})
    assert resp.status_code == 400 and "bitcoin" in resp.get_json()["coins"]


def test_private_webhooks_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_WEBHOOK_ALLOW_PRIVATE", raising=False)
    strict = build()
    body = {"coin": "bitcoin", "above": 1, "webhook": "http://127.0.0.1:9/h"}
    resp = strict.call("POST", "/api/alerts", json=body)
    assert resp.status_code == 400 and resp.get_json()["field"] == "webhook"


def test_create_list_get_delete(api: ActionsApp) -> None:
    _, key = api.new_key("alice")
    created = api.call(
        "POST",
        "/api/alerts",
        key=key,
        json={"coin": "Bitcoin", "below": 60000, "webhook": "http://127.0.0.1:9/h"},
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["coin"] == "bitcoin" and body["below"] == 60000 and body["state"] == "armed"
    assert body["secret"].startswith("whsec_")
    listed = api.call("GET", "/api/alerts", key=key).get_json()["alerts"]
    assert [a["id"] for a in listed] == [body["id"]] and "secret" not in listed[0]
    one = api.call("GET", f"/api/alerts/{body['id']}", key=key).get_json()
    assert one["deliveries"] == [] and "secret" not in one
    assert api.call("DELETE", f"/api/alerts/{body['id']}", key=key).status_code == 204
    assert api.call("GET", f"/api/alerts/{body['id']}", key=key).status_code == 404
    assert api.call("DELETE", f"/api/alerts/{body['id']}", key=key).status_code == 404


def test_owners_see_only_their_alerts_and_remote_anonymous_is_refused(api: ActionsApp) -> None:
    _, alice = api.new_key("alice")
    _, bob = api.new_key("bob")
    alert = api.call("POST", "/api/alerts", key=alice, json={"coin": "bitcoin", "above": 1})
    alert_id = alert.get_json()["id"]
    assert api.call("GET", f"/api/alerts/{alert_id}", key=bob).status_code == 404
    assert api.call("DELETE", f"/api/alerts/{alert_id}", key=bob).status_code == 404
    assert api.call("GET", "/api/alerts", key=bob).get_json() == {"alerts": []}
    assert api.call("GET", "/api/alerts").get_json() == {"alerts": []}  # local anonymous
    assert (
        api.call(
            "POST", "/api/alerts", addr=REMOTE, json={"coin": "bitcoin", "above": 1}
        ).status_code
        == 401
    )
    assert api.call("GET", "/api/alerts", addr=REMOTE).status_code == 401
    assert api.call("GET", "/check-alerts", addr=REMOTE).status_code == 401
    assert api.call("GET", "/api/alerts", key="cs_unknown").status_code == 401
    ingest(api)
    assert len(api.call("GET", "/api/alerts/events", key=alice).get_json()["events"]) == 1
    assert api.call("GET", "/api/alerts/events", key=bob).get_json() == {"events": []}


def test_events_since(api: ActionsApp) -> None:
    api.call("POST", "/api/alerts", json={"coin": "bitcoin", "above": 1})
    ingest(api)
    [event] = api.call("GET", "/api/alerts/events").get_json()["events"]
    assert set(event) == {
        "id",
        "alertId",
        "coin",
        "type",
        "threshold",
        "price",
        "observedAt",
        "firedAt",
    }
    later = api.call("GET", "/api/alerts/events?since=2999-01-01T00:00:00Z").get_json()
    assert later == {"events": []}
    assert api.call("GET", "/api/alerts/events?since=yesterday").status_code == 400


def test_the_seed_client_sees_one_item_twice_not_two(api: ActionsApp) -> None:
    assert api.call("GET", "/check-alerts").get_json() == []
    resp = api.call(
        "POST",
        "/set-alert",
        json={"coin": "bitcoin", "upperThreshold": 100.5, "lowerThreshold": None},
    )
    assert resp.status_code == 200
    ingest(api)  # bitcoin at 101 or more: above 100.5
    first = api.call("GET", "/check-alerts").get_json()
    assert len(first) == 1
    assert set(first[0]) == {"coin", "price", "threshold", "type", "firedAt"}
    assert (first[0]["coin"], first[0]["threshold"], first[0]["type"]) == (
        "bitcoin",
        100.5,
        "upper",
    )
    ingest(api)  # still above: the alert already fired
    assert api.call("GET", "/check-alerts").get_json() == first


def test_set_alert_replaces_and_null_removes(api: ActionsApp) -> None:
    body = {"coin": "bitcoin", "upperThreshold": 500, "lowerThreshold": 50}
    api.call("POST", "/set-alert", json=body)
    api.call("POST", "/set-alert", json=body)  # the same again: still two alerts
    alerts = api.call("GET", "/api/alerts").get_json()["alerts"]
    assert sorted(str(a.get("above") or a.get("below")) for a in alerts) == ["50.0", "500.0"]
    api.call("POST", "/set-alert", json={**body, "upperThreshold": 600, "lowerThreshold": None})
    alerts = api.call("GET", "/api/alerts").get_json()["alerts"]
    assert [a.get("above") for a in alerts] == [600]
    api.call(
        "POST",
        "/set-alert",
        json={"coin": "bitcoin", "upperThreshold": None, "lowerThreshold": None},
    )
    assert api.call("GET", "/api/alerts").get_json() == {"alerts": []}
    resp = api.call("POST", "/set-alert", json={"coin": "bitcoin", "upperThreshold": "x"})
    assert resp.status_code == 400 and resp.get_json()["field"] == "upperThreshold"


def test_a_webhook_delivery_shows_on_the_alert(api: ActionsApp, receiver: WebhookReceiver) -> None:
    created = api.call(
        "POST", "/api/alerts", json={"coin": "bitcoin", "above": 1, "webhook": receiver.url}
    ).get_json()
    ingest(api)
    state = state_of(api.app)
    assert state.alerts is not None
    state.alerts.dispatcher.run(max_ticks=1)
    [got] = receiver.received
    one = api.call("GET", f"/api/alerts/{created['id']}").get_json()
    [delivery] = one["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"][0]["status"] == 200
    assert got.headers["X-Cryptostats-Event-Id"] == delivery["eventId"]
    metrics = api.call("GET", "/metrics").get_data(as_text=True)
    assert 'cryptostats_alerts{state="fired"} 1.0' in metrics
    assert 'cryptostats_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics
    assert 'cryptostats_alert_events_total{type="upper"} 1.0' in metrics


def test_at_most_100_alerts_per_owner(api: ActionsApp) -> None:
    for _ in range(100):
        api.call("POST", "/api/alerts", json={"coin": "bitcoin", "above": 1})
    resp = api.call("POST", "/api/alerts", json={"coin": "bitcoin", "above": 1})
    assert resp.status_code == 400 and "100" in resp.get_json()["error"]


def test_revoking_a_key_drops_its_alerts_and_pending_deliveries(
    api: ActionsApp, receiver: WebhookReceiver
) -> None:
    key_id, key = api.new_key("carol")
    body = {"coin": "bitcoin", "above": 1, "webhook": receiver.url}
    assert api.call("POST", "/api/alerts", key=key, json=body).status_code == 201
    ingest(api)
    assert api.database["alert_deliveries"].count_documents({"state": "pending"}) == 1
    assert api.call("DELETE", f"/api/keys/{key_id}", key=ADMIN_KEY).status_code == 204
    assert api.database["alerts"].count_documents({"owner": key_id}) == 0
    assert api.database["alert_deliveries"].count_documents({"state": "pending"}) == 0
