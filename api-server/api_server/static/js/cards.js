// A card per tracked coin: price, market cap, 24h volume and change, deviation, data age, and the
// charts of its history (charts.js).

import { HistoryCharts } from "./charts.js";
import { h, setText } from "./dom.js";
import * as fmt from "./format.js";

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

function fact(label, field) {
  return h("div", { class: "fact" }, h("dt", { text: label }), h("dd", { dataset: { field } }));
}

class CoinCard {
  constructor(coin) {
    this.coin = coin;
    this.el = h(
      "article",
      { class: "coin", dataset: { coin }, "aria-labelledby": `coin-${coin}` },
      h(
        "header",
        { class: "coin-head" },
        h("button", { type: "button", class: "star", "aria-pressed": "false", "aria-label": `Watch ${coin}`, text: "☆" }),
        h("h2", { class: "coin-name", id: `coin-${coin}` }),
        h("span", { class: "coin-symbol", dataset: { field: "symbol" } }),
        h("span", { class: "age", dataset: { field: "age" } }),
      ),
      h(
        "div",
        { class: "coin-price" },
        h("span", { class: "price", dataset: { field: "price" } }),
        h("span", { class: "change", dataset: { field: "change" } }),
      ),
      h("dl", { class: "facts" }, fact("Market cap", "marketCap"), fact("Volume 24h", "volume24h"), fact("Std dev, last 100", "deviation"), fact("Records", "samples")),
    );
    this.history = new HistoryCharts(coin);
    this.el.append(this.history.el);
    this.observedAt = null;
  }

  field(name) {
    return this.el.querySelector(`[data-field="${name}"]`);
  }

  update(entry) {
    setText(this.el.querySelector(".coin-name"), entry.name || entry.coin);
    setText(this.field("symbol"), (entry.symbol || "").toUpperCase());
    this.value("price", entry.price, fmt.price(entry.price));
    this.value("marketCap", entry.marketCap, fmt.compactUsd(entry.marketCap), fmt.wholeUsd(entry.marketCap));
    this.value("volume24h", entry.volume24h, fmt.compactUsd(entry.volume24h), isNumber(entry.volume24h) ? `${fmt.wholeUsd(entry.volume24h)} traded in 24 hours` : "No volume from upstream");
    this.value("deviation", entry.deviation, fmt.amount(entry.deviation), "Population standard deviation of the newest 100 prices");
    this.value("samples", entry.samples, fmt.count(entry.samples));
    const direction = fmt.direction(entry["24hChange"]);
    const arrow = { up: "▲ ", down: "▼ ", flat: "" }[direction];
    const changeText = isNumber(entry["24hChange"]) ? `${arrow}${fmt.change(entry["24hChange"])} 24h` : fmt.DASH;
    this.value("change", entry["24hChange"], changeText, "Price change over the last 24 hours");
    this.field("change").dataset.direction = direction;
    this.observedAt = entry.observedAt;
    this.source = entry.source;
  }

  value(field, raw, text, title) {
    const el = this.field(field);
    setText(el, text, title);
    el.dataset.value = isNumber(raw) ? String(raw) : "";
  }

  /** Show how old the data is; past one interval it turns into a warning. */
  showAge(ageSeconds, intervalSeconds) {
    const el = this.field("age");
    if (this.observedAt === null || !isNumber(ageSeconds)) {
      setText(el, "no data yet", "Fetched on the next update");
      el.dataset.state = "empty";
      return;
    }
    const stale = isNumber(intervalSeconds) && ageSeconds > intervalSeconds;
    const text = stale ? `⚠ ${fmt.duration(ageSeconds)} old` : `${fmt.duration(ageSeconds)} ago`;
    const when = `Observed at ${fmt.time(this.observedAt)}${this.source ? ` by ${this.source}` : ""}`;
    const hint = stale ? `${when}; older than one update interval (${fmt.duration(intervalSeconds)})` : when;
    setText(el, text, hint);
    el.dataset.state = stale ? "stale" : "fresh";
  }

  showHistory(history, days) {
    this.history.show(history, days);
  }
}

/** The cards, in the order the API lists the coins. */
export class CoinBoard {
  constructor(root) {
    this.root = root;
    this.cards = new Map();
  }

  update(coins) {
    const placeholder = this.root.querySelector(".placeholder");
    if (placeholder) placeholder.remove();
    const seen = new Set();
    coins.forEach((entry, index) => {
      seen.add(entry.coin);
      let card = this.cards.get(entry.coin);
      if (!card) {
        card = new CoinCard(entry.coin);
        this.cards.set(entry.coin, card);
      }
      card.update(entry);
      // Keep the API's order without touching cards already in place.
      if (this.root.children[index] !== card.el) this.root.insertBefore(card.el, this.root.children[index] || null);
    });
    for (const [coin, card] of this.cards) {
      if (!seen.has(coin)) {
        card.el.remove();
        this.cards.delete(coin);
      }
    }
  }

  /** `ageOf(coin, observedAt)` returns seconds; `intervalSeconds` may be null when unknown. */
  showAges(ageOf, intervalSeconds) {
    for (const card of this.cards.values()) card.showAge(ageOf(card.coin, card.observedAt), intervalSeconds);
  }

  coins() {
    return [...this.cards.keys()];
  }

  showHistory(coin, history, days) {
    const card = this.cards.get(coin);
    if (card) card.showHistory(history, days);
  }
}
