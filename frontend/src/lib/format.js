// Numbers, times and quantity names as people read them, in the page's language.
import { lang } from './i18n.js';

/** A number with at most `digits` decimals, in the page's language (`12,5` in French). */
export function number(value, digits = 1) {
  if (value == null || !Number.isFinite(value)) return '–';
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(value);
}

/**
 * Decimals worth showing for a quantity, from its range in the catalogue: none for a count or
 * a wide range (lux, degrees of wind direction), two for a fraction (humidity, 0.46), else one.
 */
export function digitsFor(config, quantity) {
  const spec = quantitySpec(config, quantity);
  if (!spec) return 1;
  if (spec.integer) return 0;
  if (!Number.isFinite(spec.min) || !Number.isFinite(spec.max)) return 1;
  const span = spec.max - spec.min;
  return span <= 2 ? 2 : span > 300 ? 0 : 1;
}

/** A value of `quantity` with its unit from the config: `12,5 °C`. */
export function measure(config, quantity, value) {
  const unit = quantitySpec(config, quantity)?.unit ?? '';
  const text = number(value, digitsFor(config, quantity));
  return unit && text !== '–' ? `${text} ${unit}` : text;
}

/**
 * The config's entry for a quantity: `{name, unit, label: {fr, en}, min, max, integer, profile}`
 * from the catalogue (every quantity of every profile), else `{name, unit, label}` from the
 * weather list of a server without one; undefined when neither has it.
 */
export function quantitySpec(config, quantity) {
  return (config.catalogue ?? []).find((q) => q.name === quantity)
    ?? (config.quantities ?? []).find((q) => q.name === quantity);
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
