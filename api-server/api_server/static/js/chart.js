// A coin's price history drawn with uPlot (vendored, loaded as the global `uPlot`).

import { price } from "./format.js";

const HEIGHT = 170;
const STROKE = "#38bdf8";
const FILL = "rgba(56, 189, 248, 0.12)";
const AXIS = "#8b95a7";
const GRID = "rgba(148, 163, 184, 0.12)";

const axisCompact = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumSignificantDigits: 4 });

function axisPrice(value) {
  return Math.abs(value) >= 1000 ? axisCompact.format(value) : price(value);
}

/** The data's time span; one point gets an hour around it (uPlot would give it 1000 days). */
function timeRange(u, min, max) {
  const times = u.data[0];
  return times.length === 1 ? [times[0] - 1800, times[0] + 1800] : [min, max];
}

/** The data's price span with a margin; one price gets ±1 % around it, not a range from 0. */
function priceRange(_u, min, max) {
  if (min === null || max === null) return [0, 1];
  if (min === max) {
    const margin = Math.abs(min) * 0.01 || 1;
    return window.uPlot.rangeNum(min - margin, max + margin, 0, true);
  }
  return window.uPlot.rangeNum(min, max, 0.1, true);
}

/** Room for the widest tick label of the price axis. */
function axisSize(u, values) {
  const longest = values ? Math.max(...values.map((v) => v.length)) : 6;
  return Math.ceil(longest * 7.2) + 16;
}

function options(width) {
  return {
    width,
    height: HEIGHT,
    padding: [8, 8, 0, 0],
    cursor: { drag: { x: false, y: false } },
    legend: { show: true, live: true },
    scales: { x: { time: true, range: timeRange }, y: { range: priceRange } },
    series: [
      {},
      {
        label: "Price",
        stroke: STROKE,
        width: 2,
        fill: FILL,
        value: (_u, v) => (v === null || v === undefined ? "—" : price(v)),
      },
    ],
    axes: [
      { stroke: AXIS, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 } },
      {
        stroke: AXIS,
        size: axisSize,
        grid: { stroke: GRID, width: 1 },
        ticks: { stroke: GRID, width: 1 },
        values: (_u, ticks) => ticks.map(axisPrice),
      },
    ],
  };
}

/** One chart in a container; `render(points)` draws [{time, price}, ...] (oldest first). */
export class PriceChart {
  constructor(container) {
    this.container = container;
    this.plot = null;
    this.points = 0;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(container);
  }

  render(points) {
    const valid = points.filter((p) => typeof p.price === "number" && !Number.isNaN(Date.parse(p.time)));
    const data = [valid.map((p) => Date.parse(p.time) / 1000), valid.map((p) => p.price)];
    this.points = valid.length;
    this.container.dataset.points = String(valid.length);
    if (typeof window.uPlot !== "function") return;
    if (this.plot === null) {
      this.plot = new window.uPlot(options(this.width()), data, this.container);
    } else {
      this.plot.setData(data);
    }
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  fit() {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 1) {
      this.plot.setSize({ width: this.width(), height: HEIGHT });
    }
  }
}
