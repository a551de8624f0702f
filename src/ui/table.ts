import { escapeText } from './escape.js';
import { displayWidth, ellipsize, ellipsizeMiddle, levelWidths } from './width.js';

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
export function tableLines(cells: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set(), width?: number): string[] {
  const rows = cells.map((r) => r.map(escapeText));
  const natural: number[] = [];
  for (const r of rows) r.forEach((c, i) => (natural[i] = Math.max(natural[i] ?? 0, displayWidth(c))));
  const widths = width === undefined ? natural : fitColumns(natural, rows[0] ?? [], rightAligned, width);
  const cut = (c: string, i: number, header: boolean) => (displayWidth(c) <= widths[i]! ? c : header ? ellipsize(c, widths[i]!) : ellipsizeMiddle(c, widths[i]!));
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
function fitColumns(natural: readonly number[], header: readonly string[], rightAligned: ReadonlySet<number>, width: number): number[] {
  const room = width - 2 * (natural.length - 1);
  const floors = (least: (i: number) => number) => natural.map((w, i) => (rightAligned.has(i) ? undefined : Math.min(w, least(i))));
  const fitted = levelWidths(natural, floors((i) => Math.max(MIN_CUT, displayWidth(header[i] ?? ''))), room);
  return fitted.reduce((a, b) => a + b, 0) <= room ? fitted : levelWidths(natural, floors(() => 2), room);
}
