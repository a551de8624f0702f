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

/**
 * `text` cut to `width` columns in its middle, the ellipsis where the cut is: both ends of a
 * name tell it apart (system:kube-scheduler from system:kube-controller-manager, a pod's
 * namespace and its generated suffix), and a cut end loses one of them. The end gets the
 * larger half.
 */
export function ellipsizeMiddle(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 1) return ellipsize(text, width);
  const parts = [...graphemes.segment(text)].map(({ segment }) => ({ segment, w: displayWidth(segment) }));
  const headRoom = Math.floor((width - 1) / 2);
  let head = '';
  let used = 0;
  for (const p of parts) {
    if (used + p.w > headRoom) break;
    head += p.segment;
    used += p.w;
  }
  let tail = '';
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!;
    if (used + p.w > width - 1) break;
    tail = p.segment + tail;
    used += p.w;
  }
  return `${head}${ELLIPSIS}${tail}`;
}

/**
 * Widths that make columns take at most `room` columns together: each column with a floor is
 * cut to the same level, the widest first, never below its floor; columns without one keep
 * their width. At the floors the sum may still exceed `room`: nothing is cut further here.
 */
export function levelWidths(
  natural: readonly number[],
  floors: readonly (number | undefined)[],
  room: number,
): number[] {
  const at = (level: number) =>
    natural.map((w, i) => (floors[i] === undefined ? w : Math.min(w, Math.max(level, floors[i]!))));
  const sum = (ws: number[]) => ws.reduce((a, b) => a + b, 0);
  let level = Math.max(0, ...natural);
  while (level > 0 && sum(at(level)) > room) level--;
  return at(level);
}

/**
 * `text` broken at spaces into lines of at most `width` columns (a word longer than a line is
 * broken where it must), so a terminal never wraps it at an arbitrary column. `lead` is what
 * the caller prints before the first line; the lines after it start with `indent` spaces. With
 * no width (not a terminal) the text is one line, as it was.
 */
export function wrapText(
  text: string,
  width: number | undefined,
  o: { indent?: number; lead?: number } = {},
): string[] {
  const lead = o.lead ?? 0;
  if (width === undefined || lead + displayWidth(text) <= width) return [text];
  // A hanging indent that would leave little room for words is given up.
  const indent = (o.indent ?? 0) <= width / 2 ? (o.indent ?? 0) : 0;
  const lines: string[] = [];
  let line = '';
  let used = lead;
  let start = lead;
  const newLine = () => {
    lines.push(line.trimEnd());
    line = ' '.repeat(indent);
    used = start = indent;
  };
  const add = (s: string, w: number) => {
    line += s;
    used += w;
  };
  for (const [, gap, word] of text.matchAll(/( *)(\S+)/g)) {
    const w = displayWidth(word!);
    // The indent stands for the spaces where a line was broken.
    const space = lines.length > 0 && used === start ? '' : gap!;
    if (used + space.length + w <= width) {
      add(space + word, space.length + w);
      continue;
    }
    if (used > start) newLine();
    if (used + w <= width) {
      add(word!, w);
      continue;
    }
    for (const { segment } of graphemes.segment(word!)) {
      const sw = displayWidth(segment);
      if (used + sw > width && used > start) newLine();
      add(segment, sw);
    }
  }
  lines.push(line.trimEnd());
  return lines;
}

/**
 * Lines of ours, each wrapped as wrapText does, its continuation lines indented two more than
 * the line itself (a list item's wrap stays under the item); `lead` is taken on the first line.
 */
export function wrapLines(text: string, width: number | undefined, lead = 0): string {
  if (width === undefined) return text;
  return text
    .split('\n')
    .map((l, i) =>
      wrapText(l, width, { lead: i === 0 ? lead : 0, indent: l.length - l.trimStart().length + 2 }).join('\n'),
    )
    .join('\n');
}

/** A part of a line that may be left out when the line is too long: lower `drop` first, never without one. */
export interface LinePart {
  text: string;
  drop?: number;
}

/**
 * The parts joined by `separator`, whole: when the line is wider than `width`, parts are left
 * out in their `drop` order until it fits (a cut word says less than a missing one), and only
 * then is what is left cut with an ellipsis.
 */
export function joinFitting(parts: readonly LinePart[], separator: string, width: number): string {
  const kept = [...parts];
  const line = () => kept.map((p) => p.text).join(separator);
  const order = parts.filter((p) => p.drop !== undefined).sort((a, b) => a.drop! - b.drop!);
  for (const p of order) {
    if (displayWidth(line()) <= width) break;
    kept.splice(kept.indexOf(p), 1);
  }
  return ellipsize(line(), width);
}
