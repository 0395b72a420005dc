// The price-alerts panel: create and delete alerts, see their state, and a notification when one
// fires. Uses the API key from the settings when one is set (else the local anonymous owner).

import { h, setText, show } from "./dom.js";
import * as fmt from "./format.js";

const TIMEOUT_MS = 4000;
const POLL_MS = 5000;

async function call(method, url, key, body) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(url, {
      method, headers, cache: "no-store", signal: controller.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) json = await response.json().catch(() => null);
    return { status: response.status, ok: response.ok, body: json };
  } catch {
    return { status: 0, ok: false, body: null };
  } finally {
    clearTimeout(timer);
  }
}

const why = (answer) => (answer.body && answer.body.error) || (answer.status ? `HTTP ${answer.status}` : "no answer");

/** The alerts panel. */
export class AlertsPanel {
  constructor({ form, coin, direction, threshold, list, note, toast, keySetting }) {
    Object.assign(this, { form, coin, direction, threshold, list, note, toast, keySetting });
    this.seen = null; // event ids already known (null until the first load)
    this.since = new Date(Date.now() - 60_000).toISOString();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
  }

  start() {
    this.loadCoins();
    this.load();
    setInterval(() => this.load(), POLL_MS);
  }

  async loadCoins() {
    const answer = await call("GET", "/api/coins", null);
    const coins = (answer.ok && answer.body && answer.body.coins) || [];
    this.coin.replaceChildren(...coins.map((c) => h("option", { value: c.coin, text: c.name || c.coin })));
  }

  async create() {
    const value = Number(this.threshold.value);
    const body = { coin: this.coin.value, [this.direction.value]: value };
    const answer = await call("POST", "/api/alerts", this.keySetting.key, body);
    if (!answer.ok) {
      setText(this.note, `Not created: ${why(answer)}`);
      return;
    }
    this.threshold.value = "";
    setText(this.note, "Alert created.");
    this.load();
  }

  async remove(id) {
    const answer = await call("DELETE", `/api/alerts/${encodeURIComponent(id)}`, this.keySetting.key);
    setText(this.note, answer.ok ? "Alert deleted." : `Not deleted: ${why(answer)}`);
    this.load();
  }

  async load() {
    const key = this.keySetting.key;
    const [alerts, events] = await Promise.all([
      call("GET", "/api/alerts", key),
      call("GET", `/api/alerts/events?since=${encodeURIComponent(this.since)}`, key),
    ]);
    if (!alerts.ok) {
      this.list.replaceChildren();
      setText(this.note, alerts.status === 401 ? "Alerts need an API key from this address (see Settings)." : `Alerts unavailable: ${why(alerts)}`);
      return;
    }
    this.draw(alerts.body.alerts || []);
    if (events.ok) this.notify(events.body.events || []);
  }

  draw(alerts) {
    if (!alerts.length) {
      this.list.replaceChildren(h("li", { class: "muted", text: "No alerts yet." }));
      return;
    }
    this.list.replaceChildren(...alerts.map((a) => {
      const above = a.above !== undefined;
      const del = h("button", { type: "button", class: "alert-delete", "aria-label": `Delete alert ${a.coin} ${above ? "above" : "below"}` }, "Delete");
      del.addEventListener("click", () => this.remove(a.id));
      return h("li", { class: "alert-item", dataset: { id: a.id, state: a.state } },
        h("span", { class: "alert-what", text: `${a.coin} ${above ? "above" : "below"} ${fmt.price(above ? a.above : a.below)}` }),
        h("span", { class: `badge alert-state alert-${a.state}`, text: a.state }),
        del);
    }));
  }

  notify(events) {
    const fresh = this.seen === null ? [] : events.filter((e) => !this.seen.has(e.id));
    this.seen = new Set(events.map((e) => e.id));
    if (!fresh.length) return;
    const e = fresh[0];
    const text = `${e.coin} went ${e.type === "upper" ? "above" : "below"} ${fmt.price(e.threshold)}: ${fmt.price(e.price)}`;
    setText(this.toast, fresh.length > 1 ? `${text} (+${fresh.length - 1} more)` : text);
    show(this.toast, true);
  }
}
