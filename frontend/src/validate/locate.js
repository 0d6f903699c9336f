// Where a validation error is in the text: turns a JSON Pointer (RFC 6901) such as
// `/quantities/temperature` or `/3/u` into a line and a character range of the pasted payload.
//
// The server validates; this only finds places. It scans the JSON once, noting where each
// value (and each member's key) starts and ends; the scan is tolerant: on a syntax error it
// keeps what it found before it.

/**
 * Scans `text` and returns a Map from each JSON Pointer to `{start, end, keyStart}` (character
 * offsets; `keyStart` is where the member's key starts, for members of an object). The first
 * occurrence of a duplicated key wins.
 */
export function scan(text) {
  const spans = new Map();
  let i = 0;

  const fail = () => { throw new SyntaxError(`unexpected character at ${i}`); };
  const space = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const expect = (c) => { space(); if (text[i] !== c) fail(); i++; };

  function string() {
    if (text[i] !== '"') fail();
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      return text.slice(start + 1, i - 1);
    }
  }

  function value(pointer, keyStart) {
    space();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          space();
          const memberStart = i;
          const key = string();
          expect(':');
          value(`${pointer}/${escape(key)}`, memberStart);
          space();
          if (text[i] === ',') { i++; continue; }
          expect('}');
          break;
        }
      }
    } else if (c === '[') {
      i++;
      space();
      if (text[i] === ']') i++;
      else {
        for (let index = 0; ; index++) {
          value(`${pointer}/${index}`);
          space();
          if (text[i] === ',') { i++; continue; }
          expect(']');
          break;
        }
      }
    } else if (c === '"') {
      string();
    } else {
      const literal = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
      if (!literal) fail();
      i += literal[0].length;
    }
    if (!spans.has(pointer)) spans.set(pointer, { start, end: i, keyStart: keyStart ?? start });
  }

  try {
    value('');
  } catch {
    // Keep the places found before the syntax error.
  }
  return spans;
}

/** Escapes a key as a JSON Pointer segment (`~` → `~0`, `/` → `~1`). */
function escape(key) {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The 1-based line of character offset `offset` in `text`. */
export function lineOf(text, offset) {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text[k] === '\n') line++;
  return line;
}

/** The character offset of 1-based `line` and `column` in `text`. */
function offsetOf(text, line, column) {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  return Math.min(offset + Math.max(column - 1, 0), text.length);
}

/**
 * Where `error` (`{pointer, rule, message}` from /api/validate) is in `text`:
 * `{line, start, end}`, or null for the payload as a whole.
 *
 * - a syntax error or a duplicated key: the `line L column C` its message gives;
 * - a value that exists (`range`, `type`, `unknown-field`…): that member, key included;
 * - a missing one (`required`): the nearest enclosing object that exists.
 */
export function locate(text, error, spans = scan(text)) {
  const at = /line (\d+) column (\d+)/.exec(error.message ?? '');
  if (at && (error.rule === 'json-syntax' || error.rule === 'duplicate-key')) {
    const start = offsetOf(text, Number(at[1]), Number(at[2]));
    return { line: Number(at[1]), start, end: start };
  }
  const target = error.pointer === '(root)' ? '' : error.pointer ?? '';
  if (target === '') return null;
  for (let pointer = target; ; pointer = pointer.slice(0, pointer.lastIndexOf('/'))) {
    const span = spans.get(pointer);
    if (span && pointer === target) {
      return { line: lineOf(text, span.keyStart), start: span.keyStart, end: span.end };
    }
    if (span) return { line: lineOf(text, span.start), start: span.start, end: span.start + 1 };
    if (pointer === '') return null;
  }
}
