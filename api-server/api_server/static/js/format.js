// Number, time and age formats for the dashboard (US dollars, en-US digits).

const usd2 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usdSmall = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumSignificantDigits: 6 });
const usdTiny = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumSignificantDigits: 4 });
const usdCompact = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 2 });
const usdWhole = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateClock = new Intl.DateTimeFormat("en-GB", { day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" });

export const DASH = "—";

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

/** A price: 2 decimals from one dollar up, 6 significant digits below. */
export function price(value) {
  if (!isNumber(value)) return DASH;
  return Math.abs(value) >= 1 || value === 0 ? usd2.format(value) : usdSmall.format(value);
}

/** A small amount such as a deviation: 2 decimals from one dollar up, 4 significant digits below. */
export function amount(value) {
  if (!isNumber(value)) return DASH;
  return Math.abs(value) >= 1 || value === 0 ? usd2.format(value) : usdTiny.format(value);
}

/** A plain number: 2 decimals from 1 up, 6 significant digits below. */
export function number(value) {
  if (!isNumber(value)) return DASH;
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 1
    ? value.toLocaleString("en-US", { maximumFractionDigits: 2 })
    : value.toLocaleString("en-US", { maximumSignificantDigits: 6 });
}

/** "1 record", "3 records". */
export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? "" : "s"}`;
}

/** A large amount in compact form ($1.32T). */
export function compactUsd(value) {
  return isNumber(value) ? usdCompact.format(value) : DASH;
}

/** A large amount in full ($1,320,456,789). */
export function wholeUsd(value) {
  return isNumber(value) ? usdWhole.format(value) : DASH;
}

/** A percentage change with its sign: +3.40 %. */
export function change(value) {
  if (!isNumber(value)) return DASH;
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  return `${sign}${Math.abs(value).toFixed(2)} %`;
}

/** The direction of a change: "up", "down" or "flat". */
export function direction(value) {
  if (!isNumber(value) || value === 0) return "flat";
  return value > 0 ? "up" : "down";
}

/** A duration in words: 12 s, 4 min 3 s, 2 h 5 min, 3 d 4 h. */
export function duration(seconds) {
  if (!isNumber(seconds)) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86400)} d${s % 86400 >= 3600 ? ` ${Math.floor((s % 86400) / 3600)} h` : ""}`;
}

/** A wall-clock time (local): 14:03:05, with the date when not today. */
export function time(value) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return DASH;
  const today = new Date().toDateString() === date.toDateString();
  return (today ? clock : dateClock).format(date);
}

/** A plain number with grouping. */
export function count(value) {
  return isNumber(value) ? value.toLocaleString("en-US") : DASH;
}
