// The map page (dist/app.js): Toulouse's neighbourhoods coloured by what the sensors say now,
// live sensor markers, a panel with history and Grafana links, a replay slider and the alerts.
//
// Data flow: the page loads /api/config, /api/neighbourhoods, /api/sensors and /api/alerts,
// then listens to /events (Server-Sent Events) and applies each message to the module it
// concerns. The quantity menu offers the quantities with live data, labelled from the
// catalogue of profiles; a quantity first seen in a live message joins it (and a quantity the
// page's catalogue lacks, of a profile published since, makes it fetch /api/config again). The modules, in map/:
//   neighbourhoods.js  the choropleth        sensors.js   the markers
//   panel.js           the side panel        alerts.js    the alert list
//   timeline.js        the replay slider     legend.js    the legend
// and in lib/: config, API calls, the SSE stream, colours, charts, formats, i18n.
import 'leaflet/dist/leaflet.css';
import './app.css';
import L from 'leaflet';
import { loadConfig } from './lib/config.js';
import { getJson } from './lib/api.js';
import { connectLive } from './lib/live.js';
import { scaleFor } from './lib/colour.js';
import { h } from './lib/dom.js';
import { tt } from './telemetry/texts.js';
import { lang, onLanguageChange, switchLanguage, t, translate } from './lib/i18n.js';
import { quantityLabel, quantitySpec } from './lib/format.js';
import { createNeighbourhoods } from './map/neighbourhoods.js';
import { createSensors } from './map/sensors.js';
import { createLegend } from './map/legend.js';
import { createPanel } from './map/panel.js';
import { createAlerts } from './map/alerts.js';
import { createTimeline } from './map/timeline.js';

const TOULOUSE = [43.6045, 1.444];
const LIVE_KINDS = 'aggregate,status,alert,reading';

async function main() {
  document.body.dataset.titleKey = 'app.title';
  const root = document.getElementById('garonne-app') ?? document.body.appendChild(h('div', { id: 'garonne-app' }));
  root.classList.add('g-app');
  translate();

  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    root.replaceChildren(h('p', { class: 'g-error g-banner' }, t('app.error', { what: '/api/config', error: error.message })));
    return;
  }

  // --- the page's frame --------------------------------------------------------------------
  let quantity = config.default_quantity ?? config.quantities[0]?.name;
  const quantitySelect = h('select', { id: 'g-quantity', onchange: (event) => setQuantity(event.target.value) });
  const liveState = h('span', { class: 'g-live', role: 'status', 'data-state': 'connecting' });
  const validatorLink = h('a', { class: 'g-nav', 'data-i18n': 'app.validator' });
  const telemetryLink = h('a', { class: 'g-nav', id: 'g-telemetry-link' });
  const langButton = h('button', { type: 'button', class: 'g-lang', onclick: switchLanguage });
  const mapEl = h('div', { class: 'g-map', id: 'g-map' });
  const banner = h('div', { class: 'g-banner g-error', hidden: true });
  const panelEl = h('section', { class: 'g-panel', 'aria-live': 'polite' });
  const alertsEl = h('section', { class: 'g-alerts' });
  const timelineEl = h('div', { class: 'g-timeline' });
  root.replaceChildren(
    h('header', { class: 'g-bar' },
      h('h1', {}, 'Garonne'),
      h('label', { for: 'g-quantity', 'data-i18n': 'app.quantity' }), quantitySelect,
      liveState,
      h('span', { class: 'g-spacer' }),
      telemetryLink, validatorLink, langButton),
    h('main', { class: 'g-main' },
      h('div', { class: 'g-map-wrap' }, mapEl, banner),
      h('aside', { class: 'g-side' }, panelEl, alertsEl)),
    h('footer', { class: 'g-foot' }, timelineEl));

  // --- the quantity menu: the quantities with live data and the one shown, by profile -------
  // A server without `live_quantities` (an older one, the fixture server) offers its list.
  const withData = new Set(config.live_quantities ?? config.quantities.map((q) => q.name));

  function renderMenu() {
    const shown = new Set([...withData, config.default_quantity, quantity].filter(Boolean));
    const entries = (config.catalogue ?? config.quantities).filter((q) => shown.has(q.name));
    // A quantity with data that the page's catalogue lacks (until it is fetched again): its name.
    for (const name of shown) if (!entries.some((q) => q.name === name)) entries.push({ name });
    const option = (q) => h('option', { value: q.name }, menuText(q.name));
    const groups = new Map(); // profile → its entries, in catalogue order
    for (const q of entries) groups.set(q.profile ?? '', [...(groups.get(q.profile ?? '') ?? []), q]);
    quantitySelect.replaceChildren(...(groups.size > 1
      ? [...groups].map(([profile, qs]) => h('optgroup', { label: profileTitle(profile) }, qs.map(option)))
      : entries.map(option)));
    quantitySelect.value = quantity;
  }

  /** A quantity in the menu: its label in the page's language, and its unit. */
  function menuText(name) {
    const unit = quantitySpec(config, name)?.unit;
    return unit ? `${quantityLabel(config, name)} (${unit})` : quantityLabel(config, name);
  }

  function profileTitle(name) {
    const title = config.profiles?.find((p) => p.name === name)?.title;
    return title?.[lang()] ?? title?.en ?? name;
  }

  /** Adds the quantities of a live message to the menu, the first time each is seen. */
  function sawQuantities(message) {
    const fresh = Object.keys(message.quantities ?? {}).filter((name) => !withData.has(name));
    if (fresh.length === 0) return;
    for (const name of fresh) withData.add(name);
    renderMenu();
    if (fresh.some((name) => !quantitySpec(config, name))) refreshCatalogue();
  }

  let catalogueRequest = null;
  /** Fetches the catalogue again (a profile was published since the page loaded). */
  function refreshCatalogue() {
    if (catalogueRequest) return catalogueRequest;
    catalogueRequest = getJson(config.base, '/api/config')
      .then((fresh) => {
        if (!fresh.catalogue) return;
        config.catalogue = fresh.catalogue;
        config.profiles = fresh.profiles;
        for (const name of fresh.live_quantities ?? []) withData.add(name);
        renderMenu();
        panel.redraw();
        schedulePaint();
      })
      .catch(() => {}) // the names stay in the menu; the next new quantity tries again
      .finally(() => { catalogueRequest = null; });
    return catalogueRequest;
  }

  function renderFrame() {
    renderMenu();
    validatorLink.href = `${config.base}/validate?lang=${lang()}`;
    telemetryLink.href = `${config.base}/telemetry?lang=${lang()}`;
    telemetryLink.textContent = tt('nav');
    langButton.textContent = t('lang.switch');
    liveState.textContent = t(`live.${liveState.dataset.state}`);
    translate(root);
  }
  renderFrame();

  function showError(what, error) {
    banner.hidden = false;
    banner.textContent = t('app.error', { what, error: error.message });
  }

  // --- the map and its layers --------------------------------------------------------------
  let replay = null; // {values, all} while the slider is in the past
  let paintPending = false;
  const map = L.map(mapEl, { zoomSnap: 0.25, attributionControl: true }).setView(TOULOUSE, 12);
  map.attributionControl.setPrefix(false).addAttribution('© Toulouse Métropole (ODbL)');
  if (config.tiles_url) {
    L.tileLayer(config.tiles_url, {
      maxZoom: 19,
      attribution: config.tiles_attribution ?? '© OpenStreetMap contributors',
    }).addTo(map);
  } else {
    mapEl.classList.add('g-no-tiles');
  }

  const select = (subject) => {
    neighbourhoods.select(subject?.kind === 'neighbourhood' ? String(subject.id) : null);
    panel.show(subject && { kind: subject.kind, id: String(subject.id) });
    schedulePaint();
  };
  const neighbourhoods = createNeighbourhoods(map, config, { onSelect: (id) => select({ kind: 'neighbourhood', id }) });
  const sensors = createSensors(map, { onSelect: (id) => select({ kind: 'sensor', id }) });
  const legend = createLegend(map, config);
  const panel = createPanel(panelEl, {
    config, neighbourhoods, sensors, quantity: () => quantity, setQuantity, onClose: () => select(null),
  });
  const alerts = createAlerts(alertsEl, config, {
    name: (id) => neighbourhoods.name(String(id)),
    onSelect: (scope) => {
      select(scope);
      if (scope.kind === 'neighbourhood') neighbourhoods.focus(String(scope.id));
    },
    onChange: (ids) => {
      neighbourhoods.setAlerted(ids);
      schedulePaint();
    },
  });
  const timeline = createTimeline(timelineEl, {
    config,
    quantity: () => quantity,
    neighbourhoodIds: () => neighbourhoods.ids(),
    onFrame: (values, all) => {
      replay = values ? { values, all } : null;
      schedulePaint();
    },
  });

  // --- painting: at most once per animation frame, however many messages arrive ------------
  function schedulePaint() {
    if (paintPending) return;
    paintPending = true;
    requestAnimationFrame(() => {
      paintPending = false;
      const values = replay?.values ?? neighbourhoods.liveValues(quantity);
      const scale = scaleFor(quantity, replay ? replay.all : [...values.values()], quantitySpec(config, quantity));
      neighbourhoods.paint(quantity, values, scale);
      legend.show(quantity, scale);
    });
  }

  function setQuantity(next) {
    quantity = next;
    if (!withData.has(next)) renderMenu(); // chosen in a panel: the menu must offer it
    quantitySelect.value = next;
    timeline.quantityChanged();
    panel.redraw();
    schedulePaint();
  }

  onLanguageChange(() => {
    renderFrame();
    panel.redraw();
    alerts.render();
    timeline.render();
    schedulePaint();
  });

  // --- data: a first load, then live messages ----------------------------------------------
  async function loadAll() {
    const [nb, se, al] = await Promise.allSettled([
      getJson(config.base, '/api/neighbourhoods'),
      getJson(config.base, '/api/sensors'),
      getJson(config.base, '/api/alerts'),
    ]);
    if (nb.status === 'fulfilled') neighbourhoods.load(nb.value);
    else showError('/api/neighbourhoods', nb.reason);
    if (se.status === 'fulfilled') sensors.load(se.value);
    else showError('/api/sensors', se.reason);
    if (al.status === 'fulfilled') alerts.load(al.value);
    else showError('/api/alerts', al.reason);
    if ([nb, se, al].every((r) => r.status === 'fulfilled')) banner.hidden = true;
    schedulePaint();
    const subject = panel.subject();
    if (subject) panel.refresh(subject.kind, subject.id);
  }
  await loadAll();
  root.dataset.ready = 'true'; // the browser tests wait for this
  root.dataset.readyMs = String(Math.round(performance.now())); // time to the first full map

  connectLive(`${config.base}/events?kinds=${LIVE_KINDS}`, {
    aggregate(aggregate) {
      sawQuantities(aggregate);
      if (!neighbourhoods.update(aggregate)) return;
      schedulePaint();
      panel.refresh('neighbourhood', String(aggregate.neighbourhood_id));
    },
    status(status) {
      if (sensors.onStatus(status)) panel.refresh('sensor', status.sensor_id);
    },
    reading(reading) {
      sawQuantities(reading);
      if (sensors.onReading(reading)) panel.refresh('sensor', reading.sensor_id);
    },
    alert: (alert) => alerts.onAlert(alert),
  }, {
    onState(state) {
      liveState.dataset.state = state;
      liveState.textContent = t(`live.${state}`);
    },
    onResync() {
      refreshCatalogue();
      return loadAll();
    },
  });
}

main();
