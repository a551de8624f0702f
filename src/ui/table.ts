import { escapeText } from './escape.js';
import { displayWidth, ellipsize, ellipsizeMiddle, levelWidths, padToWidth } from './width.js';

/** The narrowest a cut column gets while that fits: a few characters and its header whole. */
const MIN_CUT = 6;

/**
 * Rows as aligned columns, two spaces apart: the one table layout of `sink list`, `status`,
 * `list`, `doctor -o wide` and `policy test`. The last column is not padded and lines carry no
 * trailing spaces. Cells hold names, paths, URLs and event fields, so each is escaped here,
 * before widths are measured. Given a terminal's `width`, the widest columns are cut in their
 * middle (paths and URLs keep both ends) so that no line is wider; numbers, aligned right, are
 * never cut.
 */
export function tableLines(
  cells: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number> = new Set(),
  width?: number,
): string[] {
  const rows = cells.map((r) => r.map(escapeText));
  const natural: number[] = [];
  for (const r of rows) for (const [i, c] of r.entries()) natural[i] = Math.max(natural[i] ?? 0, displayWidth(c));
  const widths = width === undefined ? natural : fitNaturalWidths(natural, rows[0] ?? [], rightAligned, width);
  const cut = (c: string, i: number, header: boolean) =>
    displayWidth(c) <= widths[i]! ? c : header ? ellipsize(c, widths[i]!) : ellipsizeMiddle(c, widths[i]!);
  const pad = (c: string, i: number) => {
    const fill = ' '.repeat(Math.max(0, widths[i]! - displayWidth(c)));
    return rightAligned.has(i) ? fill + c : c + fill;
  };
  return rows.map((r, n) =>
    r
      .map((c, i) => cut(c, i, n === 0))
      .map((c, i) => (i === r.length - 1 && !rightAligned.has(i) ? c : pad(c, i)))
      .join('  ')
      .trimEnd(),
  );
}

/** Column widths within `width`: cut to a common level, the widest first; below MIN_CUT only when nothing else fits. */
function fitNaturalWidths(
  natural: readonly number[],
  header: readonly string[],
  rightAligned: ReadonlySet<number>,
  width: number,
): number[] {
  const room = width - 2 * (natural.length - 1);
  const floors = (least: (i: number) => number) =>
    natural.map((w, i) => (rightAligned.has(i) ? undefined : Math.min(w, least(i))));
  const fitted = levelWidths(
    natural,
    floors((i) => Math.max(MIN_CUT, displayWidth(header[i] ?? ''))),
    room,
  );
  return fitted.reduce((a, b) => a + b, 0) <= room
    ? fitted
    : levelWidths(
        natural,
        floors(() => 2),
        room,
      );
}

/** A column of a table printed row by row, as rows come: its width is fixed up front. */
export interface Column {
  name: string;
  width: number;
}

/**
 * Widths for a table printed row by row, so fixed before its rows are known: each column gets
 * its `min`, then what `width` (a terminal's) leaves is shared out, the column furthest below its
 * `cap` first, and to `last` columns only once the others are at their caps. Without a width,
 * every column is at its cap. Below the sum of the mins a line runs past the terminal rather than
 * cut a column to nothing.
 */
export function fitColumns(
  specs: readonly { name: string; min: number; cap: number; last?: boolean }[],
  width: number | undefined,
): Column[] {
  const widths = specs.map((c) => (width === undefined ? c.cap : c.min));
  let left = width === undefined ? 0 : width - GAP.length * (specs.length - 1) - widths.reduce((a, b) => a + b, 0);
  const ahead = (i: number, j: number) =>
    (specs[i]!.last === true) !== (specs[j]!.last === true)
      ? specs[j]!.last === true
      : widths[i]! / specs[i]!.cap < widths[j]! / specs[j]!.cap;
  while (left > 0) {
    let pick = -1;
    specs.forEach((c, i) => {
      if (widths[i]! < c.cap && (pick < 0 || ahead(i, pick))) pick = i;
    });
    if (pick < 0) break;
    widths[pick]!++;
    left--;
  }
  return specs.map((c, i) => ({ name: c.name, width: widths[i]! }));
}

/**
 * One row of such a table: each cell escaped and padded to its column's width. With `cut`, a
 * longer cell is cut to it with an ellipsis; without, it is shown whole and widens its column
 * for the rows after it. The last column is not padded; no trailing spaces.
 */
export function fixedRow(columns: Column[], cells: readonly string[], cut: boolean): string {
  return cells
    .map((raw, i) => {
      const text = escapeText(raw);
      const col = columns[i]!;
      if (!cut) col.width = Math.max(col.width, displayWidth(text));
      const cell = cut ? ellipsize(text, col.width) : text;
      return i === cells.length - 1 ? cell : padToWidth(cell, col.width);
    })
    .join(GAP)
    .trimEnd();
}

const GAP = '  ';
