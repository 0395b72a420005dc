// The dashboard: polls the API every few seconds with conditional requests, draws what changed,
// and says plainly when the API cannot be reached.

import { KeySetting, RefreshControl, Stars } from "./actions.js";
import { AlertsPanel } from "./alerts.js";
import { Unreachable, getJSON } from "./api.js";
import { Assistant } from "./assistant.js";
import { CoinBoard } from "./cards.js";
import { setText, show } from "./dom.js";
import * as fmt from "./format.js";
import { StatusPanel } from "./status.js";

const POLL_MS = pollInterval();
const TICK_MS = 1000;
const RANGES = [1, 7, 30, 90, 365];
const RANGE_KEY = "cryptostats.days";

const byId = (id) => document.getElementById(id);
const board = new CoinBoard(byId("coins"));
const statusPanel = new StatusPanel();
const keySetting = new KeySetting({
  form: byId("key-form"),
  input: byId("key-input"),
  forget: byId("key-forget"),
  note: byId("key-note"),
  onChange: () => {
    stars.load();
    refreshControl.load();
    alertsPanel.load();
  },
});
const stars = new Stars(byId("coins"), keySetting);
const refreshControl = new RefreshControl({
  button: byId("refresh-now"),
  note: byId("refresh-note"),
  keySetting,
  pollNow: () => poll(),
});
const alertsPanel = new AlertsPanel({
  form: byId("alert-form"),
  coin: byId("alert-coin"),
  direction: byId("alert-direction"),
  threshold: byId("alert-threshold"),
  list: byId("alert-list"),
  note: byId("alert-note"),
  toast: byId("alert-toast"),
  keySetting,
});
alertsPanel.start();
const state = { days: storedRange(), lastSuccess: null, downSince: null, timer: null, running: false };

/** Milliseconds between polls: 5 s, or `?refresh=<seconds>` (1 to 300) from the address. */
function pollInterval() {
  const seconds = Number(new URLSearchParams(window.location.search).get("refresh"));
  return Number.isFinite(seconds) && seconds >= 1 && seconds <= 300 ? seconds * 1000 : 5000;
}

function storedRange() {
  try {
    const days = Number(window.localStorage.getItem(RANGE_KEY));
    return RANGES.includes(days) ? days : 7;
  } catch {
    return 7; // storage disabled: the range is not remembered
  }
}

function rememberRange(days) {
  try {
    window.localStorage.setItem(RANGE_KEY, String(days));
  } catch {
    // storage disabled: the range is not remembered
  }
}

/** The age of a coin's data: the server's measure when it gave one, else from observedAt. */
function ageOf(coin, observedAt) {
  const measured = statusPanel.coinAge(coin);
  if (measured !== null) return measured;
  const at = Date.parse(observedAt);
  return Number.isNaN(at) ? null : Math.max(0, (Date.now() - at) / 1000);
}

/** Fetch an optional endpoint: null when it is missing or fails, so its panel hides. */
async function optional(url, acceptStatus) {
  try {
    const answer = await getJSON(url);
    return acceptStatus.includes(answer.status) && answer.body ? answer : null;
  } catch (error) {
    if (error instanceof Unreachable) return null;
    throw error;
  }
}

async function refresh() {
  const coins = await getJSON("/api/coins");
  const [status, ready] = await Promise.all([optional("/api/status", [200]), optional("/ready", [200, 503])]);
  statusPanel.update(status, ready);
  if (!coins.ok || !coins.body || !Array.isArray(coins.body.coins)) {
    const why = coins.body && coins.body.error ? coins.body.error : `HTTP ${coins.status}`;
    degraded(`The API answers, but cannot serve market data: ${why}`);
  } else {
    degraded(null);
    if (coins.changed) {
      board.update(coins.body.coins);
      showSource(coins.body.coins);
      stars.draw();
    }
    refreshControl.dataShown(coins.body.coins);
    tick(); // figures and their ages change together, before the charts load
    await refreshHistory();
  }
  tick();
}

/** Name where the data comes from, and say so plainly when it is not CoinGecko. */
function showSource(coins) {
  const sources = [...new Set(coins.map((coin) => coin.source).filter(Boolean))];
  if (sources.length === 0) return;
  const synthetic = sources.filter((source) => !/(^|\.)coingecko\.com(:\d+)?$/.test(source));
  const text = synthetic.length
    ? `Market data from ${sources.join(", ")}: NOT CoinGecko, may be SYNTHETIC (simulator).`
    : `Market data from CoinGecko (${sources.join(", ")}), refreshed by the worker.`;
  setText(byId("data-source"), text);
  byId("data-source").classList.toggle("synthetic", synthetic.length > 0);
}

async function refreshHistory() {
  const days = state.days;
  await Promise.all(
    board.coins().map(async (coin) => {
      const url = `/api/history?coin=${encodeURIComponent(coin)}&days=${days}`;
      const answer = await getJSON(url);
      if (days !== state.days) return; // the range changed meanwhile; the next draw wins
      const card = board.cards.get(coin);
      if (answer.changed || card.shownDays !== days) {
        board.showHistory(coin, answer.ok ? answer.body : null, days);
        card.shownDays = days;
      }
    }),
  );
}

function degraded(message) {
  const banner = byId("degraded-banner");
  if (message) setText(banner, message);
  show(banner, Boolean(message));
}

function connected() {
  state.lastSuccess = new Date();
  state.downSince = null;
  show(byId("outage-banner"), false);
  document.body.classList.remove("offline");
  byId("live").dataset.state = "live";
  setText(byId("live-text"), `Live · updated ${fmt.time(state.lastSuccess)}`);
}

function disconnected(reason) {
  state.downSince = state.downSince || new Date();
  const since = fmt.time(state.downSince);
  const last = state.lastSuccess ? ` The figures below are from ${fmt.time(state.lastSuccess)}.` : "";
  setText(byId("outage-detail"), `No answer since ${since} (${reason}). Retrying every ${POLL_MS / 1000} s.${last}`);
  show(byId("outage-banner"), true);
  document.body.classList.add("offline");
  byId("live").dataset.state = "offline";
  setText(byId("live-text"), `Offline since ${since}`);
}

async function poll() {
  if (state.running) return;
  state.running = true;
  clearTimeout(state.timer);
  try {
    await refresh();
    connected();
  } catch (error) {
    if (!(error instanceof Unreachable)) console.error(error);
    disconnected(error instanceof Unreachable ? error.message : "unexpected error");
  } finally {
    state.running = false;
    state.timer = setTimeout(poll, POLL_MS);
  }
}

function tick() {
  board.showAges(ageOf, statusPanel.interval());
  statusPanel.tick();
  refreshControl.tick();
}

function setupRange() {
  const buttons = byId("range").querySelectorAll("button");
  const mark = () => buttons.forEach((b) => b.setAttribute("aria-pressed", String(Number(b.dataset.days) === state.days)));
  buttons.forEach((button) =>
    button.addEventListener("click", () => {
      state.days = Number(button.dataset.days);
      rememberRange(state.days);
      mark();
      refreshHistory().catch(() => {}); // an outage is reported by the next poll
    }),
  );
  mark();
}

setupRange();
new Assistant({
  form: byId("ask-form"),
  input: byId("ask-input"),
  submit: byId("ask-submit"),
  examples: byId("ask-examples"),
  result: byId("ask-result"),
});
stars.load();
refreshControl.load();
setInterval(tick, TICK_MS);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") poll();
});
poll();
