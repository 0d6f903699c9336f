// The payload validator page (dist/validate.js), the teacher's and the student's tool: paste or
// upload a reading or a SenML pack, POST it to /api/validate, and see every error at its place
// in the text (the line of its JSON Pointer highlighted) with its rule, message and hint.
// The check is against any quantity of the catalogue, or under the profile chosen in the menu
// (filled from /api/profiles): the teacher checks a group's payload against its own profile.
import './validate.css';
import { loadConfig } from './lib/config.js';
import { getJson, readJson } from './lib/api.js';
import { h } from './lib/dom.js';
import { lang, onLanguageChange, switchLanguage, t, translate } from './lib/i18n.js';
import { locate, scan } from './validate/locate.js';

// Three examples from docs/payload-spec.md: a valid reading, a valid SenML pack, and a first
// try with the usual mistakes.
const EXAMPLES = {
  reading: `{
  "v": 1,
  "sensor_id": "pi-lycee-bellevue-b12",
  "kind": "raspberry-pi",
  "source": "raspberry-pi",
  "time": "2025-11-24T10:15:00.250Z",
  "seq": 0,
  "location": { "lon": 1.4442, "lat": 43.6047 },
  "quantities": { "temperature": 19.8, "relativeHumidity": 0.46, "illuminance": 320, "motion": 1 }
}`,
  senml: `[
  { "bn": "pi-lycee-bellevue-b12:", "bt": 1763978400, "n": "lat", "u": "lat", "v": 43.6047 },
  { "n": "lon", "u": "lon", "v": 1.4442 },
  { "n": "seq", "v": 120 },
  { "n": "source", "vs": "raspberry-pi" },
  { "n": "kind", "vs": "bme280" },
  { "n": "temperature", "u": "Cel", "v": 19.8 },
  { "n": "relativeHumidity", "u": "%RH", "v": 46 },
  { "n": "atmosphericPressure", "u": "Pa", "v": 99800 },
  { "n": "temperature", "u": "Cel", "v": 19.9, "t": 60 },
  { "n": "relativeHumidity", "u": "%RH", "v": 45, "t": 60 }
]`,
  student: `{
  "v": 1,
  "sensor_id": "capteur salle B12",
  "kind": "DHT22",
  "source": "arduino",
  "timestamp": "2025-11-24T11:15:00+01:00",
  "seq": 1.5,
  "location": { "lat": 43.6047, "lng": 1.4442 },
  "quantities": { "temp": 21.5, "humidity": "45" }
}`,
};

async function main() {
  document.body.dataset.titleKey = 'validate.title';
  const root = document.getElementById('garonne-app') ?? document.body.appendChild(h('div', { id: 'garonne-app' }));
  root.classList.add('g-validate-page');

  let config = { base: '' };
  try {
    config = await loadConfig();
  } catch {
    // The validator needs only /api/validate: go on without the rest of the config.
  }

  const input = h('textarea', {
    id: 'g-payload', spellcheck: 'false', autocomplete: 'off', rows: 10,
    onkeydown: (event) => { if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) validate(); },
    oninput: () => fit(),
  });
  // The text area grows with its text, up to 30 lines (then it scrolls).
  const fit = () => { input.rows = Math.min(Math.max(input.value.split('\n').length + 1, 10), 30); };
  const file = h('input', {
    type: 'file', accept: '.json,.ndjson,.senml,application/json,text/plain', class: 'g-file',
    onchange: async () => {
      if (!file.files[0]) return;
      input.value = await file.files[0].text();
      validate();
    },
  });
  // The profile to check under: "any catalogued quantity", or one of /api/profiles.
  const profileSelect = h('select', { id: 'g-profile', onchange: () => { if (input.value.trim()) validate(); } });
  let profiles = [];
  const submit = h('button', { type: 'button', class: 'g-primary', id: 'g-validate', 'data-i18n': 'validate.submit', onclick: () => validate() });
  const result = h('section', { class: 'g-result', 'aria-live': 'polite' });
  const langButton = h('button', { type: 'button', class: 'g-lang', onclick: switchLanguage });
  const mapLink = h('a', { class: 'g-nav', 'data-i18n': 'app.map' });
  const schemaLink = h('a', { href: `${config.base}/api/schema`, class: 'g-nav' }, 'JSON Schema');

  root.replaceChildren(
    h('header', { class: 'g-bar' }, h('h1', {}, 'Garonne'), mapLink, h('span', { class: 'g-spacer' }), schemaLink, langButton),
    h('main', { class: 'g-validate' },
      h('p', { 'data-i18n': 'validate.intro' }),
      h('label', { for: 'g-payload', class: 'g-label', 'data-i18n': 'validate.input' }),
      input,
      h('div', { class: 'g-toolbar' },
        h('label', { for: 'g-profile', 'data-i18n': 'validate.profile' }), profileSelect,
        submit,
        h('label', { class: 'g-upload' }, h('span', { 'data-i18n': 'validate.upload' }), file),
        h('span', { class: 'g-muted', 'data-i18n': 'validate.examples' }),
        ['reading', 'senml', 'student'].map((name) => h('button', {
          type: 'button', class: 'g-example', 'data-i18n': `validate.example.${name}`,
          onclick: () => { input.value = EXAMPLES[name]; validate(); },
        }))),
      result));

  // Dropping a file on the text area loads it, like the file button.
  input.addEventListener('dragover', (event) => event.preventDefault());
  input.addEventListener('drop', async (event) => {
    const dropped = event.dataTransfer?.files?.[0];
    if (!dropped) return;
    event.preventDefault();
    input.value = await dropped.text();
    validate();
  });

  let last = null; // {text, answer} of the latest validation, redrawn on a language switch

  function renderProfiles() {
    const chosen = profileSelect.value;
    profileSelect.replaceChildren(
      h('option', { value: '' }, t('validate.profile.any')),
      ...profiles.map((p) => h('option', { value: p.name }, `${p.title?.[lang()] ?? p.title?.en ?? p.name} (${p.name})`)));
    profileSelect.value = profiles.some((p) => p.name === chosen) ? chosen : '';
  }

  function renderFrame() {
    renderProfiles();
    langButton.textContent = t('lang.switch');
    mapLink.href = `${config.base}/?lang=${lang()}`;
    translate(root);
  }

  async function validate() {
    fit();
    const text = input.value;
    if (text.trim() === '') {
      last = null;
      result.replaceChildren(h('p', { class: 'g-banner g-error' }, t('validate.empty')));
      return;
    }
    submit.disabled = true;
    result.setAttribute('aria-busy', 'true');
    try {
      const query = profileSelect.value ? `?profile=${encodeURIComponent(profileSelect.value)}` : '';
      const response = await fetch(`${config.base}/api/validate${query}`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: text,
      });
      last = { text, answer: await readJson(response) };
      render();
      result.firstElementChild?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    } catch (error) {
      last = null;
      result.replaceChildren(h('p', { class: 'g-banner g-error' }, t('app.error', { what: '/api/validate', error: error.message })));
    } finally {
      submit.disabled = false;
      result.removeAttribute('aria-busy');
    }
  }

  function render() {
    if (!last) return;
    const { text, answer } = last;
    if (answer.valid) {
      result.replaceChildren(h('p', { class: 'g-banner g-valid', 'data-state': 'valid' },
        '✓ ', t('validate.valid', { kind: t(`validate.kind.${answer.kind}`), count: answer.readings })));
      return;
    }
    // Place each error on a line; the ones about the whole payload go on top.
    const spans = scan(text);
    const byLine = new Map();
    const whole = [];
    for (const error of answer.errors) {
      const place = locate(text, error, spans);
      if (!place) whole.push({ error, place });
      else {
        if (!byLine.has(place.line)) byLine.set(place.line, []);
        byLine.get(place.line).push({ error, place });
      }
    }
    const lines = text.split('\n');
    result.replaceChildren(
      h('p', { class: 'g-banner g-error', 'data-state': 'invalid' }, '✗ ', t('validate.invalid', { count: answer.errors.length })),
      h('div', { class: 'g-whole' }, whole.map(errorBox)),
      h('ol', { class: 'g-listing' }, lines.map((line, k) => {
        const errors = byLine.get(k + 1) ?? [];
        return h('li', { class: errors.length ? 'g-line g-line-bad' : 'g-line', 'data-line': k + 1 },
          h('span', { class: 'g-ln' }, String(k + 1)),
          h('code', {}, line || ' '),
          errors.map(errorBox));
      })));
  }

  /** The hint of `error` in the page's language (the message, which names the values, is English). */
  function hintOf(error) {
    return (lang() === 'fr' && error.hint_fr) || error.hint;
  }

  /** One error: pointer, rule, message and hint; a click selects its place in the text area. */
  function errorBox({ error, place }) {
    const hint = hintOf(error);
    return h('div', {
      class: 'g-err', 'data-rule': error.rule, 'data-pointer': error.pointer, tabindex: place ? 0 : null,
      title: place ? t('validate.where', { line: place.line }) : t('validate.whole'),
      onclick: () => {
        if (!place) return;
        input.focus();
        input.setSelectionRange(place.start, Math.max(place.end, place.start + 1));
      },
    },
    h('div', {}, h('code', { class: 'g-pointer' }, error.pointer || '(root)'), ' ',
      h('span', { class: 'g-rule', title: t('validate.rule') }, error.rule), ' ', error.message),
    hint ? h('div', { class: 'g-hint' }, h('strong', {}, t('validate.hint')), ' ', hint) : null);
  }

  onLanguageChange(() => {
    renderFrame();
    render();
  });
  renderFrame();
  try {
    profiles = await getJson(config.base, '/api/profiles');
    renderProfiles();
  } catch {
    // A server without profiles: the validator checks against its quantities, as before.
  }
  root.dataset.ready = 'true';
  root.dataset.readyMs = String(Math.round(performance.now())); // time to a usable page (bench)
}

main();
