// A coin's history from /api/history, drawn with uPlot (vendored, the global `uPlot`): price,
// 24h volume and the deviation served over time, on one time axis, with a CSV download link.

import { h, setText } from "./dom.js";
import * as fmt from "./format.js";

const AXIS = "#8b95a7";
const GRID = "rgba(148, 163, 184, 0.12)";
const RANGE_NAMES = { 1: "1 day", 365: "1 year" };

const axisCompact = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumSignificantDigits: 4 });

/** A dollar amount short enough for an axis: $67.01K, $28.3B, $12.40, $0.4521. */
function axisUsd(value) {
  return Math.abs(value) >= 1000 ? axisCompact.format(value) : fmt.amount(value);
}

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

/** The three charts: what each draws of a point, its colour, its size and how it joins the points. */
export const SERIES = {
  price: { label: "Price", key: "price", stroke: "#38bdf8", fill: "rgba(56, 189, 248, 0.12)", height: 150, value: fmt.price },
  volume: { label: "Volume 24h", key: "volume24h", stroke: "#f59e0b", fill: "rgba(245, 158, 11, 0.12)", height: 90, value: fmt.compactUsd },
  deviation: {
    label: "Std dev, last 100",
    key: "deviation",
    stroke: "#a78bfa",
    fill: null,
    height: 110,
    value: fmt.amount,
    // The deviation served holds until the next ingest: steps, joined over buckets without one
    // (backfilled history has none), with a dot for a value that has no neighbour yet.
    stepped: true,
    timeAxis: true,
  },
};

/** The range's name: "1 day", "7 days", "1 year". */
export function rangeName(days) {
  return RANGE_NAMES[days] || `${days} days`;
}

/** The data's time span; one point gets an hour around it (uPlot would give it 1000 days). */
function timeRange(u, min, max) {
  const times = u.data[0];
  return times.length === 1 ? [times[0] - 1800, times[0] + 1800] : [min, max];
}

/** The values' span with a margin; one value gets ±1 % around it, not a range from 0. */
function valueRange(_u, min, max) {
  if (min === null || max === null) return [0, 1];
  if (min === max) {
    const margin = Math.abs(min) * 0.01 || 1;
    return window.uPlot.rangeNum(min - margin, max + margin, 0, true);
  }
  return window.uPlot.rangeNum(min, max, 0.1, true);
}

const AXIS_MIN = 70;

/** Room for the widest tick label of the value axis; at least AXIS_MIN, so a card's charts align. */
function axisSize(_u, values) {
  const longest = values ? Math.max(...values.map((v) => v.length)) : 6;
  return Math.max(AXIS_MIN, Math.ceil(longest * 8) + 16);
}

/** The indices of values with no value on either side: uPlot draws no line through them. */
function isolated(u, seriesIdx) {
  const values = u.data[seriesIdx];
  const has = (i) => i >= 0 && i < values.length && values[i] !== null;
  const found = [];
  for (let i = 0; i < values.length; i++) if (has(i) && !has(i - 1) && !has(i + 1)) found.push(i);
  return found;
}

function timeAxis(spec) {
  const axis = { stroke: AXIS, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 } };
  // Only the lowest chart names the times; the others share its axis (and its cursor).
  return spec.timeAxis ? axis : { ...axis, size: 6, values: (_u, ticks) => ticks.map(() => "") };
}

function options(spec, width, syncKey) {
  const series = {
    label: spec.label,
    stroke: spec.stroke,
    width: 2,
    fill: spec.fill || undefined,
    value: (_u, v) => (v === null || v === undefined ? fmt.DASH : spec.value(v)),
  };
  if (spec.stepped) {
    Object.assign(series, {
      paths: window.uPlot.paths.stepped({ align: 1 }),
      spanGaps: true,
      points: { show: true, size: 7, fill: spec.stroke, filter: isolated },
    });
  }
  return {
    width,
    height: spec.height,
    padding: [8, 8, 0, 0],
    cursor: { drag: { x: false, y: false }, sync: { key: syncKey } },
    legend: { show: true, live: true },
    scales: { x: { time: true, range: timeRange }, y: { range: valueRange } },
    series: [{}, series],
    axes: [
      timeAxis(spec),
      {
        stroke: AXIS,
        size: axisSize,
        grid: { stroke: GRID, width: 1 },
        ticks: { stroke: GRID, width: 1 },
        values: (_u, ticks) => ticks.map(axisUsd),
      },
    ],
  };
}

/** One uPlot chart in a container, sized to it. */
class TimeChart {
  constructor(container, spec, syncKey) {
    this.container = container;
    this.spec = spec;
    this.syncKey = syncKey;
    this.plot = null;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(container);
  }

  /** Draw `values` (numbers or null) at `times` (epoch seconds). */
  render(times, values) {
    const data = [times, values];
    this.container.dataset.points = String(times.length);
    this.container.dataset.values = String(values.filter((v) => v !== null).length);
    if (typeof window.uPlot !== "function") return;
    if (this.plot === null) this.plot = new window.uPlot(options(this.spec, this.width(), this.syncKey), data, this.container);
    else this.plot.setData(data);
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  fit() {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 1) this.plot.setSize({ width: this.width(), height: this.spec.height });
  }
}

function chartBlock(coin, name, spec) {
  const title = spec.key === "deviation" ? "Deviation over time (std dev of the newest 100 prices)" : spec.label;
  return h(
    "figure",
    { class: `history-chart history-${name}` },
    h("figcaption", { class: "chart-title", text: title }),
    h("div", { class: "chart", dataset: { field: name === "price" ? "chart" : `${name}-chart` }, role: "img", "aria-label": `${coin} ${title}` }),
  );
}

/** A coin's history block: the three charts, a caption and the CSV link of the range shown. */
export class HistoryCharts {
  constructor(coin) {
    this.coin = coin;
    this.csv = h("a", { class: "csv-link", dataset: { field: "csv" }, download: "", text: "CSV" });
    this.caption = h("span", { class: "chart-caption", dataset: { field: "caption" } });
    const blocks = Object.entries(SERIES).map(([name, spec]) => [name, chartBlock(coin, name, spec), spec]);
    this.el = h("div", { class: "history" }, blocks.map(([, block]) => block), h("p", { class: "history-foot" }, this.caption, this.csv));
    this.charts = blocks.map(([, block, spec]) => new TimeChart(block.querySelector(".chart"), spec, `history-${coin}`));
  }

  /** Draw a body of /api/history (or null when it failed) for the range of `days`. */
  show(history, days) {
    const points = history && Array.isArray(history.points) ? history.points : [];
    const valid = points.filter((p) => !Number.isNaN(Date.parse(p.time)));
    const times = valid.map((p) => Date.parse(p.time) / 1000);
    for (const chart of this.charts) chart.render(times, valid.map((p) => (isNumber(p[chart.spec.key]) ? p[chart.spec.key] : null)));
    const span = rangeName(days);
    const every = history && history.interval ? `, one per ${history.interval}` : "";
    setText(this.caption, valid.length ? `${fmt.plural(valid.length, "point")} over the last ${span}${every}` : `No records in the last ${span} yet`);
    this.csv.href = `/api/history?coin=${encodeURIComponent(this.coin)}&days=${days}&format=csv`;
    this.csv.title = `Download the last ${span} of ${this.coin} as CSV (time, open, high, low, close, market cap, volume)`;
  }
}
