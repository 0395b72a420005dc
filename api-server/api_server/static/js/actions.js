// The user's actions: "Refresh now", the stars (watchlist) and the API key setting.
// The key goes only into the Authorization header, never into a URL; "Forget" removes it.

import { setText, show } from "./dom.js";
import * as fmt from "./format.js";

const TIMEOUT_MS = 4000;
const KEY_STORE = "cryptostats.apiKey";
const LOCAL_STARS = "cryptostats.stars";
const FAST_POLL_MS = 1000;
const FAST_POLL_FOR_MS = 30000;

function stored(name, fallback) {
  try {
    const value = window.localStorage.getItem(name);
    return value === null ? fallback : value;
  } catch {
    return fallback; // storage disabled
  }
}

function store(name, value) {
  try {
    if (value === null) window.localStorage.removeItem(name);
    else window.localStorage.setItem(name, value);
  } catch {
    // storage disabled: kept for this page only
  }
}

/** Call the API with the key when one is set; resolves to {status, ok, body, headers}. */
async function call(method, url, key) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(url, { method, headers, cache: "no-store", signal: controller.signal });
    let body = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) body = await response.json().catch(() => null);
    return { status: response.status, ok: response.ok, body, headers: response.headers };
  } catch {
    return { status: 0, ok: false, body: null, headers: new Headers() };
  } finally {
    clearTimeout(timer);
  }
}

const why = (answer) => (answer.body && answer.body.error) || (answer.status ? `HTTP ${answer.status}` : "no answer");

/** The API key setting: saved in this browser until forgotten. */
export class KeySetting {
  constructor({ form, input, forget, note, onChange }) {
    this.key = stored(KEY_STORE, "");
    this.note = note;
    this.forgetButton = forget;
    this.onChange = onChange;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const key = input.value.trim();
      input.value = "";
      if (key) this.set(key);
    });
    forget.addEventListener("click", () => this.set(""));
    this.show();
  }

  set(key) {
    this.key = key;
    store(KEY_STORE, key || null);
    this.show();
    this.onChange();
  }

  show(message) {
    show(this.forgetButton, Boolean(this.key));
    const text = this.key ? "A key is set: stars are your server watchlist." : "No key: stars are kept in this browser.";
    setText(this.note, message || text);
  }
}

/** Stars on the cards: the server's watchlist with a key, else this browser's list. */
export class Stars {
  constructor(root, keySetting) {
    this.root = root;
    this.keys = keySetting;
    this.coins = new Set();
    this.mode = "local";
    root.addEventListener("click", (event) => {
      const star = event.target.closest("button.star");
      if (star) this.toggle(star.closest("[data-coin]").dataset.coin);
    });
  }

  async load() {
    if (!this.keys.key) {
      this.mode = "local";
      this.coins = new Set(JSON.parse(stored(LOCAL_STARS, "[]")));
    } else {
      const answer = await call("GET", "/api/watchlist", this.keys.key);
      if (answer.ok && answer.body && Array.isArray(answer.body.coins)) {
        this.mode = "server";
        this.coins = new Set(answer.body.coins);
        this.keys.show();
      } else {
        this.mode = "local";
        this.coins = new Set(JSON.parse(stored(LOCAL_STARS, "[]")));
        this.keys.show(`The key was refused (${why(answer)}); stars are kept in this browser.`);
      }
    }
    this.draw();
  }

  async toggle(coin) {
    const on = !this.coins.has(coin);
    if (this.mode === "server") {
      const answer = await call(on ? "PUT" : "DELETE", `/api/watchlist/${encodeURIComponent(coin)}`, this.keys.key);
      if (!answer.ok) {
        this.keys.show(`Could not change the watchlist: ${why(answer)}`);
        return;
      }
    }
    if (on) this.coins.add(coin);
    else this.coins.delete(coin);
    if (this.mode === "local") store(LOCAL_STARS, JSON.stringify([...this.coins]));
    this.draw();
  }

  draw() {
    for (const star of this.root.querySelectorAll("button.star")) {
      const coin = star.closest("[data-coin]").dataset.coin;
      const on = this.coins.has(coin);
      star.setAttribute("aria-pressed", String(on));
      star.dataset.mode = this.mode;
      setText(star, on ? "★" : "☆", on ? `Remove ${coin} from your watchlist` : `Add ${coin} to your watchlist`);
    }
  }
}

/** "Refresh now": says when the next refresh is allowed, and when the new data lands. */
export class RefreshControl {
  constructor({ button, note, keySetting, pollNow }) {
    this.button = button;
    this.note = note;
    this.keys = keySetting;
    this.pollNow = pollNow;
    this.allowedAt = 0;
    this.waiting = null; // {since, until, baseline} while waiting for new data
    this.message = "";
    this.needsKey = false;
    button.addEventListener("click", () => this.request());
  }

  async load() {
    const answer = await call("GET", "/api/refresh", this.keys.key);
    this.message = "";
    if (answer.ok && answer.body) {
      this.allowedAt = Date.now() + answer.body.retryAfterSeconds * 1000;
      this.needsKey = !this.keys.key && !answer.body.anonymousAllowed;
    }
    this.tick();
  }

  async request() {
    this.button.disabled = true;
    const answer = await call("POST", "/api/refresh", this.keys.key);
    if (answer.ok) {
      this.allowedAt = 0;
      await this.load();
      this.waiting = { since: Date.now(), baseline: this.newest };
      this.message = "Refresh requested: waiting for new data…";
      this.fastPoll();
    } else if (answer.status === 429) {
      const seconds = Number(answer.headers.get("Retry-After")) || 1;
      this.allowedAt = Date.now() + seconds * 1000;
      this.message = "";
    } else if (answer.status === 401) {
      this.message = "A key is needed to refresh from this address: enter one in Settings.";
    } else {
      this.message = `Refresh failed: ${why(answer)}`;
    }
    this.tick();
  }

  fastPoll() {
    if (!this.waiting) return;
    if (Date.now() - this.waiting.since > FAST_POLL_FOR_MS) {
      this.waiting = null;
      this.message = "No new data yet; it will show on the next update.";
      this.tick();
      return;
    }
    this.pollNow();
    setTimeout(() => this.fastPoll(), FAST_POLL_MS);
  }

  /** Called with /api/coins' entries after each poll: announces data newer than the refresh. */
  dataShown(coins) {
    const times = coins.map((coin) => Date.parse(coin.updatedAt)).filter((t) => !Number.isNaN(t));
    this.newest = times.length ? Math.max(...times) : null;
    if (this.waiting && this.newest !== null && (this.waiting.baseline == null || this.newest > this.waiting.baseline)) {
      this.waiting = null;
      this.message = `New data shown, stored at ${fmt.time(new Date(this.newest))}.`;
      this.tick();
    }
  }

  tick() {
    const left = Math.ceil((this.allowedAt - Date.now()) / 1000);
    this.button.disabled = left > 0 || Boolean(this.waiting);
    this.button.dataset.state = this.waiting ? "waiting" : left > 0 ? "cooldown" : "ready";
    let next = left > 0 ? `Next refresh allowed in ${fmt.duration(left)}.` : "Refresh allowed now.";
    if (this.needsKey && !this.message) next += " From this address it needs a key: enter one in Settings.";
    setText(this.note, this.message ? `${this.message} ${left > 0 ? next : ""}`.trim() : next);
  }
}
