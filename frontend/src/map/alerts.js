// The active alerts: loaded from /api/alerts, kept up to date by `alert` events (a `raised`
// message adds or replaces, a `cleared` one removes). A click on an alert opens its
// neighbourhood or sensor.
import { h } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { measure, quantityLabel, time } from '../lib/format.js';

export function createAlerts(el, config, { name, onSelect, onChange }) {
  const active = new Map(); // "rule/kind/id" → alert

  const key = (alert) => `${alert.rule}/${alert.scope.kind}/${alert.scope.id}`;

  function render() {
    const items = [...active.values()].sort((a, b) => (a.since < b.since ? 1 : -1));
    el.replaceChildren(
      h('h2', {}, t('alerts.title'), items.length ? ` (${items.length})` : ''),
      items.length === 0
        ? h('p', { class: 'g-muted' }, t('alerts.none'))
        : h('ul', { class: 'g-alert-list' }, items.map((alert) => {
          const where = alert.scope.kind === 'neighbourhood' ? name(alert.scope.id) : alert.scope.id;
          const comparison = t(`alerts.${alert.comparison}`, {
            value: measure(config, alert.quantity, alert.value),
            threshold: measure(config, alert.quantity, alert.threshold),
          });
          return h('li', {},
            h('button', { class: 'g-alert', type: 'button', onclick: () => onSelect(alert.scope) },
              h('strong', {}, alert.rule), ' · ', where, h('br'),
              `${quantityLabel(config, alert.quantity)} ${comparison}, ${t('alerts.since', { time: time(alert.since) })}`));
        })),
    );
  }

  function changed() {
    render();
    onChange(new Set([...active.values()]
      .filter((alert) => alert.scope.kind === 'neighbourhood')
      .map((alert) => String(alert.scope.id))));
  }

  return {
    /** Replaces the list with the /api/alerts answer. */
    load(alerts) {
      active.clear();
      for (const alert of alerts) if (alert.state !== 'cleared') active.set(key(alert), alert);
      changed();
    },
    /** An `alert` event. */
    onAlert(alert) {
      if (!alert.scope) return;
      if (alert.state === 'cleared') active.delete(key(alert));
      else active.set(key(alert), alert);
      changed();
    },
    render,
  };
}
