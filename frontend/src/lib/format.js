// Numbers, times and quantity names as people read them, in the page's language.
import { lang } from './i18n.js';

/** A number with at most `digits` decimals, in the page's language (`12,5` in French). */
export function number(value, digits = 1) {
  if (value == null || !Number.isFinite(value)) return '–';
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(value);
}

/** Decimals worth showing for a quantity: humidity is a fraction (0.46), lux are whole. */
export function digitsFor(quantity) {
  if (quantity === 'relativeHumidity') return 2;
  if (quantity === 'illuminance' || quantity === 'windDirection' || quantity === 'motion') return 0;
  return 1;
}

/** A value of `quantity` with its unit from the config: `12,5 °C`. */
export function measure(config, quantity, value) {
  const unit = quantitySpec(config, quantity)?.unit ?? '';
  const text = number(value, digitsFor(quantity));
  return unit && text !== '–' ? `${text} ${unit}` : text;
}

/** The config's entry for a quantity: `{name, unit, label: {fr, en}}`, or undefined. */
export function quantitySpec(config, quantity) {
  return config.quantities.find((q) => q.name === quantity);
}

/** A quantity's name for people, in the page's language (its wire name when unknown). */
export function quantityLabel(config, quantity) {
  const label = quantitySpec(config, quantity)?.label;
  return label?.[lang()] ?? label?.en ?? quantity;
}

/** A time as a short local date and time (`24/11 10:15`). */
export function time(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang(), {
    day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit',
  }).format(date);
}

/** A time of day (`10:15`). */
export function clock(iso) {
  const date = new Date(iso);
  return new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit' }).format(date);
}
