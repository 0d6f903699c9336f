// The choropleth's colour scale: a palette per kind of quantity, stretched over the values on
// the map.
//
// Design: the domain follows the data (the lowest to the highest neighbourhood, rounded to
// round numbers) because Toulouse's neighbourhoods differ by a degree or two: a fixed -40..60 °C
// scale would paint them all the same. A minimum span per quantity keeps a 0.1 °C difference
// from looking like a heat wave: tuned by hand for the weather quantities, a fiftieth of the
// physical range (from the catalogue) for the others. The legend always prints the numbers.

const BLUE_RED = ['#313695', '#4575b4', '#74add1', '#abd9e9', '#fee090', '#fdae61', '#f46d43', '#d73027', '#a50026'];
const BLUES = ['#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'];
const VIRIDIS = ['#440154', '#46327e', '#365c8d', '#277f8e', '#1fa187', '#4ac16d', '#a0da39', '#fde725'];

const PALETTES = {
  temperature: BLUE_RED,
  relativeHumidity: BLUES,
  precipitation: BLUES,
  streamGauge: BLUES,
};

const MIN_SPAN = {
  temperature: 2,
  relativeHumidity: 0.1,
  atmosphericPressure: 4,
  precipitation: 1,
  windSpeed: 2,
  gustSpeed: 4,
  windDirection: 90,
  illuminance: 1000,
  streamGauge: 0.5,
  motion: 1,
};

/** The fill of a neighbourhood without data. */
export const NO_DATA = '#cfcfcf';

/** The smallest span of a scale for `quantity`, whose catalogue entry is `spec` (if known). */
function minSpanFor(quantity, spec) {
  if (MIN_SPAN[quantity]) return MIN_SPAN[quantity];
  const range = spec ? spec.max - spec.min : NaN;
  if (!Number.isFinite(range) || range <= 0) return 1;
  return spec.integer ? Math.max(1, range / 50) : range / 50;
}

/**
 * A scale for `quantity` over `values` (numbers; others are ignored), `spec` its catalogue entry
 * (`{min, max, integer}`) if known: `{min, max, stops, colour(value)}`, or null when there is no
 * value at all.
 */
export function scaleFor(quantity, values, spec) {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return null;
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  const minSpan = minSpanFor(quantity, spec);
  if (high - low < minSpan) {
    const middle = (low + high) / 2;
    low = middle - minSpan / 2;
    high = middle + minSpan / 2;
  }
  const step = niceStep((high - low) / 4);
  const min = Math.floor(low / step) * step;
  const max = Math.ceil(high / step) * step;
  const stops = PALETTES[quantity] ?? VIRIDIS;
  return { min, max, stops, colour: (value) => colourAt(stops, (value - min) / (max - min)) };
}

/** 1, 2 or 5 times a power of ten, near `raw`: the legend's round numbers. */
function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** The colour at `position` (0–1, clamped) along `stops`, interpolated in RGB. */
export function colourAt(stops, position) {
  if (!Number.isFinite(position)) return NO_DATA;
  const p = Math.min(1, Math.max(0, position)) * (stops.length - 1);
  const i = Math.min(Math.floor(p), stops.length - 2);
  const [a, b] = [rgb(stops[i]), rgb(stops[i + 1])];
  const mix = (k) => Math.round(a[k] + (b[k] - a[k]) * (p - i));
  return `#${[0, 1, 2].map((k) => mix(k).toString(16).padStart(2, '0')).join('')}`;
}

function rgb(hex) {
  return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
}
