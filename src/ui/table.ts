import { escapeText } from './escape.js';
import { displayWidth } from './width.js';

/**
 * Rows as aligned columns, two spaces apart: the one table layout of `sink list`, `status` and
 * `policy test`. The last column is not padded and lines carry no trailing spaces. Cells hold
 * names, paths, URLs and event fields, so each is escaped here, before widths are measured.
 */
export function tableLines(cells: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string[] {
  const rows = cells.map((r) => r.map(escapeText));
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, displayWidth(c))));
  const pad = (c: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - displayWidth(c));
    return rightAligned.has(i) ? fill + c : c + fill;
  };
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 && !rightAligned.has(i) ? c : pad(c, i)))
      .join('  ')
      .trimEnd(),
  );
}
