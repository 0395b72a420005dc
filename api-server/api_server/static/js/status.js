// System status from /api/status (worker, subscriber, ingests) and /ready (dependency checks).

import { h, setText, show } from "./dom.js";
import * as fmt from "./format.js";

const HEARTBEAT_STALE_SECONDS = 15; // the worker beats every 5 s; /ready may say otherwise
const INGESTS_SHOWN = 6;

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const byId = (id) => document.getElementById(id);

function mark(el, state, text, title) {
  setText(el, text, title);
  el.dataset.state = state;
}

/** Read a check's verdict from the shapes a readiness check may take. */
function checkOk(check) {
  if (typeof check === "boolean") return check;
  if (check && typeof check === "object") {
    if (typeof check.ok === "boolean") return check.ok;
    if (typeof check.healthy === "boolean") return check.healthy;
    if (typeof check.status === "string") return ["ok", "up", "pass", "ready"].includes(check.status.toLowerCase());
  }
  return null;
}

function checkDetail(check) {
  if (!check || typeof check !== "object") return "";
  for (const key of ["error", "detail", "message", "reason"]) {
    if (typeof check[key] === "string" && check[key]) return check[key];
  }
  const parts = [];
  if (check.embedded === true) parts.push("embedded");
  if (isNumber(check.latencyMs)) parts.push(`${check.latencyMs} ms`);
  if (isNumber(check.heartbeatAgeSeconds)) parts.push(`beat ${fmt.duration(check.heartbeatAgeSeconds)} ago`);
  if (isNumber(check.ageSeconds)) parts.push(`${fmt.duration(check.ageSeconds)} old`);
  if (check.coins && typeof check.coins === "object") {
    const coins = Object.values(check.coins);
    parts.push(`${coins.filter((c) => c && c.fresh).length}/${coins.length} coins fresh`);
  }
  if (typeof check.outcome === "string") parts.push(check.outcome);
  if (check.required === false) parts.push("info");
  return parts.join(" · ");
}

/** The checks of a /ready body as [name, check] pairs, whether given as an object or a list. */
function readyChecks(body) {
  const checks = body && body.checks;
  if (Array.isArray(checks)) return checks.map((c) => [c.name || c.check || "check", c]);
  if (checks && typeof checks === "object") return Object.entries(checks);
  return [];
}

export class StatusPanel {
  constructor() {
    this.status = null;
    this.ready = null;
  }

  /** Take the latest answers; null means the endpoint is missing or failed. */
  update(status, ready) {
    this.status = status;
    this.ready = ready;
    for (const el of document.querySelectorAll('[data-part="status"]')) show(el, status !== null);
    for (const el of document.querySelectorAll('[data-part="ready"]')) show(el, ready !== null);
    show(byId("status-missing"), status === null && ready === null);
    if (status) this.renderIngests(status.body.ingests || []);
    this.renderReady();
    this.tick();
  }

  /** Seconds between updates, when the API says. */
  interval() {
    const body = this.status && this.status.body;
    if (!body) return null;
    if (isNumber(body.updateIntervalSeconds)) return body.updateIntervalSeconds;
    return body.worker && isNumber(body.worker.intervalSeconds) ? body.worker.intervalSeconds : null;
  }

  /** A coin's data age now, from the server's measure plus the time since it was taken. */
  coinAge(coin) {
    const entry = this.status && this.status.body.coins && this.status.body.coins[coin];
    if (!entry || !isNumber(entry.ageSeconds)) return null;
    return entry.ageSeconds + (Date.now() - this.status.receivedAt) / 1000;
  }

  /** Seconds after which the worker's heartbeat counts as missing (from /ready when it says). */
  heartbeatLimit() {
    const worker = this.ready && this.ready.body.checks && this.ready.body.checks.worker;
    return worker && isNumber(worker.maxAgeSeconds) ? worker.maxAgeSeconds : HEARTBEAT_STALE_SECONDS;
  }

  /** Refresh the parts that change with the clock (ages, countdown). */
  tick() {
    if (!this.status) return;
    const body = this.status.body;
    const elapsed = (Date.now() - this.status.receivedAt) / 1000;
    const worker = body.worker || {};
    const beat = byId("st-heartbeat");
    if (isNumber(worker.heartbeatAgeSeconds)) {
      const age = worker.heartbeatAgeSeconds + elapsed;
      const stale = age > this.heartbeatLimit();
      mark(beat, stale ? "bad" : "ok", stale ? `⚠ ${fmt.duration(age)} ago` : `${fmt.duration(age)} ago`);
    } else {
      mark(beat, "bad", "no heartbeat", "No worker has written a heartbeat: is the worker running?");
    }
    const next = byId("st-next");
    const at = Date.parse(worker.nextTriggerAt);
    if (Number.isNaN(at)) {
      mark(next, "unknown", fmt.DASH);
    } else {
      const inSeconds = (at - Date.now()) / 1000;
      const text = inSeconds >= 0 ? `in ${fmt.duration(inSeconds)}` : `due ${fmt.duration(-inSeconds)} ago`;
      mark(next, inSeconds >= -HEARTBEAT_STALE_SECONDS ? "ok" : "bad", text, `at ${fmt.time(at)}`);
    }
    const interval = this.interval();
    setText(byId("st-interval"), interval === null ? fmt.DASH : fmt.duration(interval));
    const sub = body.subscriber || {};
    const subText = sub.alive ? (sub.subscribed ? "listening" : "connecting") : "stopped";
    const reconnects = isNumber(sub.reconnects) && sub.reconnects > 0 ? ` · ${sub.reconnects} reconnects` : "";
    mark(byId("st-subscriber"), sub.alive && sub.subscribed ? "ok" : "bad", subText + reconnects);
  }

  renderReady() {
    const badge = byId("ready-badge");
    const list = byId("ready-checks");
    if (!this.ready) {
      show(badge, false);
      return;
    }
    const ready = this.ready.status === 200;
    show(badge, true);
    mark(badge, ready ? "ok" : "bad", ready ? "Ready" : "Not ready");
    const checks = readyChecks(this.ready.body);
    const find = (name) => checks.find(([key]) => key.toLowerCase().includes(name));
    for (const [name, id] of [["redis", "st-redis"], ["store", "st-store"]]) {
      const found = find(name);
      const ok = found ? checkOk(found[1]) : null;
      const text = ok === null ? fmt.DASH : ok ? "reachable" : "unreachable";
      mark(byId(id), ok === null ? "unknown" : ok ? "ok" : "bad", text, found ? checkDetail(found[1]) : "");
    }
    list.replaceChildren(
      ...checks.map(([name, check]) => {
        const ok = checkOk(check);
        const detail = checkDetail(check);
        return h(
          "li",
          { dataset: { state: ok === null ? "unknown" : ok ? "ok" : "bad" } },
          h("span", { class: "check-name", text: name }),
          detail ? h("span", { class: "check-detail", text: detail }) : null,
        );
      }),
    );
  }

  renderIngests(ingests) {
    const list = byId("ingests");
    if (!ingests.length) {
      list.replaceChildren(h("li", { class: "muted", text: "No ingest yet." }));
      return;
    }
    list.replaceChildren(...ingests.slice(0, INGESTS_SHOWN).map(ingestItem));
  }
}

/** How many coins a field names: a list of coins, a {coin: reason} map, or a number. */
function coinCount(value) {
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === "object") return Object.keys(value).length;
  return isNumber(value) ? value : null;
}

function coinNames(value) {
  if (Array.isArray(value)) return value.join(", ");
  if (value && typeof value === "object") return Object.keys(value).join(", ");
  return "";
}

function ingestItem(ingest) {
  const errors = Array.isArray(ingest.errors) ? ingest.errors.map(String) : [];
  const skipped = ingest.skipped && typeof ingest.skipped === "object" && !Array.isArray(ingest.skipped) ? ingest.skipped : {};
  const problems = [...errors, ...Object.entries(skipped).map(([coin, why]) => `${coin} skipped: ${why}`)];
  const outcome = String(ingest.outcome || "unknown");
  const good = problems.length === 0 && /^(ok|success|stored|complete)/i.test(outcome);
  const calls = ingest.upstreamCalls;
  const counts = [
    h("span", { title: coinNames(ingest.stored), text: `${fmt.count(coinCount(ingest.stored))} stored` }),
    h("span", { title: coinNames(ingest.skipped), text: `${fmt.count(coinCount(ingest.skipped))} skipped` }),
    h("span", { title: coinNames(ingest.duplicates), text: `${fmt.count(coinCount(ingest.duplicates))} duplicate` }),
    h("span", { text: `${fmt.count(calls)} upstream call${calls === 1 ? "" : "s"}` }),
  ];
  const took = Date.parse(ingest.finishedAt) - Date.parse(ingest.startedAt);
  return h(
    "li",
    { class: "ingest", dataset: { state: good ? "ok" : "bad" } },
    h(
      "div",
      { class: "ingest-head" },
      h("time", { datetime: ingest.startedAt, text: fmt.time(ingest.startedAt) }),
      h("span", { class: "pill", text: outcome }),
      h("span", { class: "muted", text: ingest.reason ? String(ingest.reason) : "" }),
      h("span", { class: "source", text: ingest.source ? String(ingest.source) : "" }),
    ),
    h("div", { class: "ingest-counts" }, counts, Number.isFinite(took) ? h("span", { text: `${took} ms` }) : null),
    problems.length ? h("ul", { class: "ingest-errors" }, problems.slice(0, 4).map((p) => h("li", { text: p }))) : null,
  );
}
