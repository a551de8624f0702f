/**
 * Untrusted text (event fields, sink names, paths, peers' bytes) shown to a person: every control
 * character and bidirectional override becomes visible, so an event can neither drive the terminal
 * (clear it, retitle it, move the cursor) nor forge a line or reorder what is shown. Machine output
 * (-o json, -o jsonl, --json) keeps the exact text and never goes through here.
 */

/** C0 controls, DEL, C1 controls, and the Unicode bidi controls (embeddings, overrides, isolates, marks). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with each unsafe character written out: ESC as `\x1b`, RIGHT-TO-LEFT OVERRIDE as `\u202e`. */
export function escapeText(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, visible) : text;
}

/**
 * Multi-line text of ours that quotes untrusted text (error messages, a tool's output): each line
 * escaped, the line breaks kept, so our own layout survives and a quoted CR or ESC does not.
 */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeText).join('\n');
}

/**
 * A copy of a report (plain data: objects, arrays, strings, numbers) with every string escaped,
 * for a printer that builds its lines from many fields: a field added later is escaped too.
 */
export function escapeStrings<T>(value: T): T {
  if (typeof value === 'string') return escapeText(value) as T;
  if (Array.isArray(value)) return value.map(escapeStrings) as T;
  // Only plain objects: a Date or a class instance is kept as it is rather than flattened to {}.
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeStrings(v)])) as T;
  }
  return value;
}
