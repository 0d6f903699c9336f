// French and English. The page's <html lang> chooses the language (the server sets it from
// ?lang= or Accept-Language); the switch button changes it in place and keeps it in the URL so a
// reload stays in the chosen language. Every text the pages show is in this dictionary; the
// quantities' names come from /api/config.

const TEXTS = {
  fr: {
    'app.title': 'Garonne — les quartiers de Toulouse en direct',
    'app.quantity': 'Grandeur',
    'app.validator': 'Valider un message',
    'app.map': 'Carte',
    'app.loading': 'Chargement…',
    'app.error': 'Impossible de charger {what} : {error}',
    'map.tooltip': '{quantity} : {value}',
    'live.live': 'En direct',
    'live.reconnecting': 'Reconnexion…',
    'live.connecting': 'Connexion…',
    'legend.noData': 'pas de donnée',
    'legend.sources': 'Capteurs',
    'legend.offline': 'hors ligne',
    'source.virtual': 'simulé',
    'source.opendata-replay': 'open data (rejoué)',
    'source.opendata-estimate': 'open data (estimé)',
    'source.raspberry-pi': 'Raspberry Pi',
    'source.device': 'autre appareil',
    'source.replay': 'rejeu (relevés stockés)',
    'state.online': 'en ligne',
    'state.offline': 'hors ligne',
    'state.unknown': 'état inconnu',
    'panel.empty': 'Cliquez sur un quartier ou un capteur pour voir ses mesures et leur historique.',
    'panel.close': 'Fermer',
    'panel.window': 'Fenêtre {start} – {end}',
    'panel.noAggregate': 'Aucune mesure dans ce quartier pour l’instant.',
    'panel.time': 'Heure',
    'panel.mean': 'moyenne',
    'panel.min': 'min',
    'panel.max': 'max',
    'panel.sensors': 'capteurs',
    'panel.readings': 'mesures',
    'panel.value': 'valeur',
    'panel.rolling': 'sur {minutes} min',
    'panel.history': 'Historique : {quantity}',
    'panel.range': 'Période',
    'panel.every': 'Pas',
    'panel.noHistory': 'Pas d’historique pour cette période.',
    'panel.grafana': 'Ouvrir dans Grafana',
    'panel.kind': 'Type',
    'panel.source': 'Source',
    'panel.state': 'État',
    'panel.lastReading': 'Dernière mesure : {time}',
    'panel.noReading': 'Aucune mesure reçue.',
    'panel.sparkline': '{quantity}, 6 dernières heures',
    'alerts.title': 'Alertes',
    'alerts.none': 'Aucune alerte active.',
    'alerts.above': '{value} > {threshold}',
    'alerts.below': '{value} < {threshold}',
    'alerts.since': 'depuis {time}',
    'timeline.live': 'Direct',
    'timeline.play': 'Rejouer',
    'timeline.pause': 'Pause',
    'timeline.label': 'Rejouer les dernières heures',
    'timeline.span': 'Durée',
    'timeline.step': 'Pas',
    'timeline.loading': 'Chargement de l’historique…',
    'unit.minutes': '{n} min',
    'unit.hours': '{n} h',
    'unit.days': '{n} j',
    'lang.switch': 'English',
    'validate.title': 'Garonne — valider un message de capteur',
    'validate.intro': 'Collez une mesure (un objet JSON) ou un paquet SenML, ou choisissez un fichier, puis validez : chaque erreur est montrée à sa place, avec la règle enfreinte et comment la corriger.',
    'validate.input': 'Message à valider',
    'validate.upload': 'Choisir un fichier…',
    'validate.examples': 'Exemples',
    'validate.example.reading': 'mesure valide',
    'validate.example.senml': 'paquet SenML valide',
    'validate.example.student': 'premier essai (erreurs)',
    'validate.submit': 'Valider',
    'validate.profile': 'Profil',
    'validate.profile.any': 'toute grandeur du catalogue',
    'validate.checking': 'Vérification…',
    'validate.valid': 'Valide : {kind}, {count} mesure(s).',
    'validate.invalid': '{count} erreur(s) : corrigez-les puis validez à nouveau.',
    'validate.kind.reading': 'une mesure',
    'validate.kind.senml': 'un paquet SenML',
    'validate.rule': 'règle',
    'validate.hint': 'Conseil :',
    'validate.where': 'ligne {line}',
    'validate.whole': 'message entier',
    'validate.empty': 'Le message est vide : collez un objet JSON ou un paquet SenML.',
    'validate.spec': 'La spécification du message',
  },
  en: {
    'app.title': 'Garonne — Toulouse neighbourhoods live',
    'app.quantity': 'Quantity',
    'app.validator': 'Validate a payload',
    'app.map': 'Map',
    'app.loading': 'Loading…',
    'app.error': 'Cannot load {what}: {error}',
    'map.tooltip': '{quantity}: {value}',
    'live.live': 'Live',
    'live.reconnecting': 'Reconnecting…',
    'live.connecting': 'Connecting…',
    'legend.noData': 'no data',
    'legend.sources': 'Sensors',
    'legend.offline': 'offline',
    'source.virtual': 'simulated',
    'source.opendata-replay': 'open data (replayed)',
    'source.opendata-estimate': 'open data (estimated)',
    'source.raspberry-pi': 'Raspberry Pi',
    'source.device': 'other device',
    'source.replay': 'replay (stored readings)',
    'state.online': 'online',
    'state.offline': 'offline',
    'state.unknown': 'state unknown',
    'panel.empty': 'Click a neighbourhood or a sensor to see its values and their history.',
    'panel.close': 'Close',
    'panel.window': 'Window {start} – {end}',
    'panel.noAggregate': 'No readings in this neighbourhood yet.',
    'panel.time': 'Time',
    'panel.mean': 'mean',
    'panel.min': 'min',
    'panel.max': 'max',
    'panel.sensors': 'sensors',
    'panel.readings': 'readings',
    'panel.value': 'value',
    'panel.rolling': 'over {minutes} min',
    'panel.history': 'History: {quantity}',
    'panel.range': 'Range',
    'panel.every': 'Step',
    'panel.noHistory': 'No history for this period.',
    'panel.grafana': 'Open in Grafana',
    'panel.kind': 'Kind',
    'panel.source': 'Source',
    'panel.state': 'State',
    'panel.lastReading': 'Latest reading: {time}',
    'panel.noReading': 'No reading received.',
    'panel.sparkline': '{quantity}, last 6 hours',
    'alerts.title': 'Alerts',
    'alerts.none': 'No active alert.',
    'alerts.above': '{value} > {threshold}',
    'alerts.below': '{value} < {threshold}',
    'alerts.since': 'since {time}',
    'timeline.live': 'Live',
    'timeline.play': 'Replay',
    'timeline.pause': 'Pause',
    'timeline.label': 'Replay the last hours',
    'timeline.span': 'Span',
    'timeline.step': 'Step',
    'timeline.loading': 'Loading history…',
    'unit.minutes': '{n} min',
    'unit.hours': '{n} h',
    'unit.days': '{n} d',
    'lang.switch': 'Français',
    'validate.title': 'Garonne — validate a sensor payload',
    'validate.intro': 'Paste a reading (a JSON object) or a SenML pack, or choose a file, then validate: every error is shown at its place, with the rule it breaks and how to fix it.',
    'validate.input': 'Payload to validate',
    'validate.upload': 'Choose a file…',
    'validate.examples': 'Examples',
    'validate.example.reading': 'valid reading',
    'validate.example.senml': 'valid SenML pack',
    'validate.example.student': 'first try (errors)',
    'validate.submit': 'Validate',
    'validate.profile': 'Profile',
    'validate.profile.any': 'any catalogued quantity',
    'validate.checking': 'Checking…',
    'validate.valid': 'Valid: {kind}, {count} reading(s).',
    'validate.invalid': '{count} error(s): fix them and validate again.',
    'validate.kind.reading': 'a reading',
    'validate.kind.senml': 'a SenML pack',
    'validate.rule': 'rule',
    'validate.hint': 'Hint:',
    'validate.where': 'line {line}',
    'validate.whole': 'whole payload',
    'validate.empty': 'The payload is empty: paste a JSON object or a SenML pack.',
    'validate.spec': 'The payload specification',
  },
};

const listeners = [];

/** The page's language: `fr` or `en` (French unless the page says English). */
export function lang() {
  return document.documentElement.lang.startsWith('en') ? 'en' : 'fr';
}

/** The text of `key` in the page's language, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = TEXTS[lang()][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** Calls `listener` after every language switch (to redraw what the dictionary cannot reach). */
export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** Sets every `[data-i18n]` element's text under `root` from the dictionary. */
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  document.title = t(document.body.dataset.titleKey ?? 'app.title');
}

/** Switches to the other language, in place. */
export function switchLanguage() {
  const next = lang() === 'fr' ? 'en' : 'fr';
  document.documentElement.lang = next;
  const url = new URL(window.location.href);
  url.searchParams.set('lang', next);
  window.history.replaceState(null, '', url);
  translate();
  for (const listener of listeners) listener(next);
}
