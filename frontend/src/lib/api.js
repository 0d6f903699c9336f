// The server's JSON API (server/CONTRACT.md). Every call goes through `getJson`, which turns the
// server's `{"error": "..."}` into an Error with that message.

/** GETs JSON from `path` under the page's base; throws an Error with the server's message. */
export async function getJson(base, path, params = {}) {
  const url = new URL(base + path, window.location.href);
  for (const [name, value] of Object.entries(params)) {
    if (value != null) url.searchParams.set(name, value);
  }
  const response = await fetch(url);
  return readJson(response);
}

/** The JSON of a response, or an Error carrying the server's `error` message. */
export async function readJson(response) {
  const body = await response.text();
  let json = null;
  try {
    json = body ? JSON.parse(body) : null;
  } catch {
    // Not JSON: keep the status line as the message.
  }
  if (!response.ok) {
    throw new Error(json?.error ?? `HTTP ${response.status} ${response.statusText}`);
  }
  return json;
}

/**
 * The history of one neighbourhood or sensor (`subject`: `{neighbourhood: id}` or
 * `{sensor: id}`) over the last `hours`, one bucket per `everySecs`.
 */
export function history(base, subject, quantity, hours, everySecs) {
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600_000);
  return getJson(base, '/api/history', {
    ...subject, quantity, from: from.toISOString(), to: to.toISOString(), every: everySecs,
  });
}
