// The page's configuration: the JSON block the server writes into the page
// (<script type="application/json" id="garonne-config">), completed by /api/config.
//
// The block may hold `base` (a path prefix when Garonne is served under a sub-path, "" by
// default) and any field of /api/config, which then wins; when it already has `quantities`,
// /api/config is not fetched.
import { getJson } from './api.js';

export async function loadConfig() {
  const block = document.getElementById('garonne-config');
  const page = block ? JSON.parse(block.textContent || '{}') : {};
  const base = (page.base ?? '').replace(/\/$/, '');
  const api = page.quantities ? {} : await getJson(base, '/api/config');
  return { grafana_url: null, tiles_url: null, ...api, ...page, base };
}

/** A Grafana dashboard link, or null when no Grafana is configured. */
export function grafanaLink(config, dashboard, variable, id) {
  if (!config.grafana_url) return null;
  const root = config.grafana_url.replace(/\/$/, '');
  return `${root}/d/${dashboard}?var-${variable}=${encodeURIComponent(id)}`;
}
