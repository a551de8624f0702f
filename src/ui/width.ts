/**
 * How many terminal columns text takes. East Asian wide and fullwidth characters and most emoji
 * take two, combining marks none: counting code points made rows of Chinese or Japanese names
 * run past the screen. Text measured here is already escaped (no control characters), and ASCII,
 * nearly every cell of a lab, is counted without the library.
 */
import stringWidth from 'string-width';

// Printable ASCII, and the ellipsis cut text ends with: one column each.
const NARROW = /^[\x20-\x7e\u2026]*$/;

export function displayWidth(text: string): number {
  return NARROW.test(text) ? text.length : stringWidth(text);
}

const ELLIPSIS = '…';

/** `text` cut to `width` columns, its last one an ellipsis when something was cut. */
export function ellipsize(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  // One column a character, no marks to keep with it: a table of many rows cuts mostly these.
  if (NARROW.test(text)) return `${text.slice(0, width - 1)}${ELLIPSIS}`;
  let out = '';
  let used = 0;
  // By grapheme, so a character and its combining marks or an emoji sequence stay whole.
  for (const { segment } of graphemes.segment(text)) {
    const w = displayWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}${ELLIPSIS}`;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `text` and the spaces that make it `width` columns wide (none when it is wider). */
export function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}
