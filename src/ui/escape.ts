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

/** Whether `text` holds anything escapeText would change. */
export function hasUnsafeText(text: string): boolean {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text);
}
