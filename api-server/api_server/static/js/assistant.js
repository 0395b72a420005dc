// The assistant box: a question goes to POST /api/ask; the structured answer is shown.

import { Unreachable, postJSON } from "./api.js";
import { h, show } from "./dom.js";
import * as fmt from "./format.js";

const LABELS = {
  price: "Price",
  market_cap: "Market cap",
  change_24h: "24h change",
  deviation: "Deviation",
  trend: "Trend",
  help: "Help",
};

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function describe(value) {
  if (value === null || value === undefined) return fmt.DASH;
  if (typeof value === "number") return fmt.number(value);
  if (typeof value === "string" && ISO_TIME.test(value)) return fmt.time(value);
  if (typeof value === "string" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.every((v) => typeof v !== "object") ? value.join(", ") : `${value.length} items`;
  return JSON.stringify(value);
}

function dataList(data) {
  if (!data || typeof data !== "object" || !Object.keys(data).length) return null;
  return h(
    "dl",
    { class: "answer-data" },
    Object.entries(data).map(([key, value]) => h("div", {}, h("dt", { text: key }), h("dd", { text: describe(value) }))),
  );
}

export class Assistant {
  constructor({ form, input, submit, examples, result }) {
    this.input = input;
    this.submit = submit;
    this.result = result;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask(input.value);
    });
    for (const button of examples.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        input.value = button.textContent;
        this.ask(button.textContent);
      });
    }
  }

  async ask(question) {
    const query = question.trim();
    if (!query) return;
    this.submit.disabled = true;
    this.result.setAttribute("aria-busy", "true");
    try {
      const { ok, body, status } = await postJSON("/api/ask", { query });
      if (ok && body && typeof body.answer === "string") this.showAnswer(body);
      else this.showError(body && body.error ? body.error : `The assistant answered HTTP ${status}.`);
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      this.showError(`The API is unreachable (${error.message}).`);
    } finally {
      this.submit.disabled = false;
      this.result.removeAttribute("aria-busy");
    }
  }

  showAnswer(body) {
    const tags = [h("span", { class: "pill", dataset: { type: body.type }, text: LABELS[body.type] || body.type })];
    if (body.coin) tags.push(h("span", { class: "pill pill-coin", text: body.coin }));
    this.result.dataset.state = "answer";
    this.result.replaceChildren(
      h("div", { class: "answer-tags" }, tags),
      h("p", { class: "answer-text", text: body.answer }),
      dataList(body.data),
    );
    show(this.result, true);
  }

  showError(message) {
    this.result.dataset.state = "error";
    this.result.replaceChildren(h("p", { class: "answer-text", text: message }));
    show(this.result, true);
  }
}
