// A tiny helper to build DOM elements without innerHTML (so no text from the network is ever
// parsed as HTML).

/**
 * Creates an element: `h('a', {href: url, class: 'x'}, 'text', child)`.
 * Attributes starting with `on` are event listeners; `dataset` takes an object.
 */
export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  el.append(...present(children));
  return el;
}

/**
 * Replaces `el`'s children, skipping `null`, `undefined` and `false` as `h` does (the DOM's own
 * `replaceChildren` would show them as the words "null"…): `replace(el, a, maybe ? b : null)`.
 */
export function replace(el, ...children) {
  el.replaceChildren(...present(children));
}

/** The children to insert: arrays flattened, absent ones (`null`, `undefined`, `false`) left out. */
function present(children) {
  return children.flat().filter((child) => child != null && child !== false);
}

/** A `<select>` of `[value, text]` options with `selected` chosen. */
export function select(options, selected, onChange, attributes = {}) {
  const el = h('select', { ...attributes, onchange: (event) => onChange(event.target.value) },
    options.map(([value, text]) => h('option', { value }, text)));
  el.value = String(selected);
  return el;
}
