// JSON over HTTP with conditional requests: each URL remembers its last ETag and body, so an
// unchanged resource costs a 304 and no parsing.

const TIMEOUT_MS = 4000;

/** The API could not be reached (connection refused, timeout, or a proxy error page). */
export class Unreachable extends Error {}

const cache = new Map();

/** GET a JSON resource; resolves to {status, ok, body, receivedAt, changed}. */
export async function getJSON(url) {
  const cached = cache.get(url);
  const headers = { Accept: "application/json" };
  if (cached && cached.etag) headers["If-None-Match"] = cached.etag;
  // no-store: the page handles revalidation itself, so a 304 reaches this code.
  const response = await send(url, { headers, cache: "no-store" });
  if (response.status === 304 && cached) return { ...cached, changed: false };
  const entry = {
    status: response.status,
    ok: response.ok,
    body: await readBody(response),
    etag: response.headers.get("ETag"),
    receivedAt: Date.now(),
  };
  if (entry.etag) cache.set(url, entry);
  else cache.delete(url);
  return { ...entry, changed: true };
}

/** POST a JSON payload; resolves to {status, ok, body}. */
export async function postJSON(url, payload) {
  const response = await send(url, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(payload),
    cache: "no-store",
  });
  return { status: response.status, ok: response.ok, body: await readBody(response) };
}

async function send(url, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    return await fetch(url, { ...init, signal: controller.signal });
  } catch (error) {
    const why = error.name === "AbortError" ? `no answer within ${TIMEOUT_MS / 1000} s` : "connection failed";
    throw new Unreachable(why);
  } finally {
    clearTimeout(timer);
  }
}

async function readBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) {
    // The API always answers JSON; anything else comes from something in front of it.
    if (response.status >= 500) throw new Unreachable(`HTTP ${response.status} from a proxy`);
    return null;
  }
  try {
    return await response.json();
  } catch {
    return null;
  }
}
