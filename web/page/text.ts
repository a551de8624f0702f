/**
 * Untrusted text made safe to look at. Everything from an event is shown as a text node (Preact escapes strings; this
 * page never sets HTML or a link from event data); here it is also made visible: control and bidi characters shown
 * as \uXXXX escapes (so U+202E cannot reorder a row), and long strings cut, saying how much was left out.
 */

const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function visible(s: string): string {
  return s.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** At most `max` characters of s, visible, with how many more there were. */
export function cut(s: string, max: number): string {
  if (s.length <= max) return visible(s);
  return `${visible(s.slice(0, max))}… (+${(s.length - max).toLocaleString('en')} chars)`;
}

export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

export function field(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The CLI's own byte format (`top`, `policy test`): one rule for both, bundled in from src/. */
export { formatBytes } from '../../src/audit/bytes.js';
