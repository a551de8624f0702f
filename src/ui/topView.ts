/**
 * What `top` shows: its table (a terminal's, fitted to the width, with sparklines; or a pipe's,
 * every column whole) and the full screen of the live view. Pure: rows in, lines out. Key values
 * come from events, so each is escaped before it is measured, cut or painted.
 */
import { formatBytes as formatBytesSpaced } from '../audit/bytes.js';
import { escapeText } from './escape.js';
import type { ChalkInstance } from 'chalk';
import {
  displayWidth,
  ellipsize,
  ellipsizeMiddle,
  joinFitting,
  type LinePart,
  levelWidths,
  padToWidth,
} from './width.js';

export type TopStyle = Pick<ChalkInstance, 'bold' | 'dim' | 'cyan' | 'underline' | 'inverse' | 'yellow'>;

/** One group as shown. */
export interface TopRow {
  /** Per key column; undefined where the events have no value. */
  key: readonly (string | number | undefined)[];
  /** The "(other)" row: groups beyond the cap. */
  other: boolean;
  events: number;
  bytes: number;
  /** Null when no event had a time to take a rate over. */
  eventsPerSecond: number | null;
  bytesPerSecond: number | null;
  /** 0 to 1. */
  share: number;
  /** How long before the end of the window it was last seen (µs). */
  lastSeenAge: number | undefined;
  /** Events per second of the last minute, oldest first. */
  spark?: readonly number[];
}

/** The columns a table can be sorted by, in their order on screen; `key` is the key columns. */
export const SORT_COLUMNS = ['key', 'events', 'rate', 'bytes', 'byteRate', 'last'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];

export interface TopTableOptions {
  /** The key columns' names, e.g. user, verb, resource. */
  keys: readonly string[];
  style: TopStyle;
  /** A terminal's width: key columns are cut (with an ellipsis) so that no line is wider. */
  width?: number;
  /** A sparkline column of the last minute (on a terminal). */
  spark: boolean;
  /** The column the rows are sorted by, marked in the header on a terminal. */
  sortedBy?: SortColumn;
}

const NONE = '-';
const OTHER = '(other)';
const GAP = '  ';
/** The narrowest a cut key column gets. */
const MIN_KEY = 6;
/** A sparkline of 60 seconds, 4 seconds a cell. */
const SPARK_CELLS = 15;
const BARS = ' ▁▂▃▄▅▆▇█';

/** 0.0032, 0.50, 2.50, 12.5, 340: what matters of a rate, in a few characters. */
export function formatRate(n: number | null): string {
  if (n === null) return NONE;
  if (n === 0) return '0';
  if (n < 0.001) return '<0.001';
  if (n < 1) return n.toPrecision(2);
  if (n < 10) return n.toFixed(2);
  if (n < 100) return n.toFixed(1);
  return String(Math.round(n));
}

/** 512B, 1.5KiB, 12KiB, 340MiB: policy test's byte format without the gap, for narrow columns. */
export function formatBytes(n: number | null): string {
  return n === null ? NONE : formatBytesSpaced(n, '');
}

export function formatShare(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** An age as `kubectl get events` shows LAST SEEN: 12s, 4m30s, 25m, 3h, 2d. */
export function formatAge(micros: number | undefined): string {
  if (micros === undefined) return NONE;
  const s = Math.max(0, Math.floor(micros / 1_000_000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** The last minute in SPARK_CELLS bars, each scaled to the busiest cell of the row; blank: none. */
export function sparkline(perSecond: readonly number[]): string {
  const per = Math.max(1, Math.ceil(perSecond.length / SPARK_CELLS));
  const cells: number[] = [];
  for (let i = 0; i < perSecond.length; i += per) cells.push(perSecond.slice(i, i + per).reduce((a, b) => a + b, 0));
  const max = Math.max(0, ...cells);
  return cells.map((c) => (c === 0 ? ' ' : BARS[Math.max(1, Math.ceil((c / max) * 8))])).join('');
}

function keyCell(row: TopRow, i: number): string {
  if (row.other) return i === 0 ? OTHER : '';
  const v = row.key[i];
  return v === undefined ? NONE : escapeText(String(v));
}

interface StatColumn {
  name: string;
  sort: SortColumn;
  cell(row: TopRow): string;
  /** Left out on a narrow terminal, lowest first, when the keys would be cut below READABLE. */
  drop?: number;
}

const STATS: readonly StatColumn[] = [
  { name: 'EVENTS', sort: 'events', cell: (r) => String(r.events), drop: 2 },
  { name: 'EVENTS/S', sort: 'rate', cell: (r) => formatRate(r.eventsPerSecond) },
  { name: 'SHARE', sort: 'rate', cell: (r) => formatShare(r.share) },
  { name: 'BYTES', sort: 'bytes', cell: (r) => formatBytes(r.bytes), drop: 1 },
  { name: 'BYTES/S', sort: 'byteRate', cell: (r) => formatBytes(r.bytesPerSecond) },
  { name: 'LAST SEEN', sort: 'last', cell: (r) => formatAge(r.lastSeenAge), drop: 3 },
];

/** Below this a cut key says too little: the sparkline, then the optional numbers, give way first. */
const READABLE = 16;

/**
 * Widths for the key columns so that they take at most `room`: the widest are cut first, none
 * below MIN_KEY while that fits, and down to a letter and the ellipsis when not (many keys on a
 * narrow screen), so that no line is wider than the screen.
 */
function fitKeys(natural: readonly number[], room: number): number[] {
  const net = room - GAP.length * (natural.length - 1);
  const fitted = levelWidths(
    natural,
    natural.map(() => MIN_KEY),
    net,
  );
  return fitted.reduce((a, b) => a + b, 0) <= net
    ? fitted
    : levelWidths(
        natural,
        natural.map(() => 2),
        net,
      );
}

interface Layout {
  keyWidths: number[];
  stats: StatColumn[];
  spark: boolean;
}

/**
 * What fits `width`: every column if it does; else the sparkline, then BYTES, EVENTS and LAST
 * SEEN (never the sorted one) are left out until the keys keep READABLE characters; the keys are
 * then cut to fit, the widest first.
 */
function layout(naturalKeys: number[], statWidth: (c: StatColumn) => number, o: TopTableOptions): Layout {
  const all: Layout = { keyWidths: naturalKeys, stats: [...STATS], spark: o.spark };
  if (o.width === undefined) return all;
  const droppable = STATS.filter((c) => c.drop !== undefined && c.sort !== o.sortedBy).sort(
    (a, b) => a.drop! - b.drop!,
  );
  const tries: Layout[] = [all];
  if (o.spark) tries.push({ ...all, spark: false });
  for (let n = 1; n <= droppable.length; n++)
    tries.push({ ...all, spark: false, stats: STATS.filter((c) => !droppable.slice(0, n).includes(c)) });
  const fitted = tries.map((t) => {
    const used =
      t.stats.reduce((sum, c) => sum + GAP.length + statWidth(c), 0) +
      (t.spark ? GAP.length + Math.max(SPARK_CELLS, SPARK_HEAD.length) : 0);
    return { ...t, keyWidths: fitKeys(naturalKeys, o.width! - used) };
  });
  return fitted.find((t) => t.keyWidths.every((w, i) => w >= Math.min(naturalKeys[i]!, READABLE))) ?? fitted.at(-1)!;
}

const SPARK_HEAD = 'LAST MINUTE';

/**
 * The table: a header, then one line per row. Numbers are right-aligned; given a `width`, columns
 * are left out and keys cut (with an ellipsis) so that no line is wider.
 */
export function topTableLines(rows: readonly TopRow[], o: TopTableOptions): string[] {
  const s = o.style;
  const keyHead = o.keys.map((k) => k.toUpperCase());
  const keyCells = rows.map((r) => o.keys.map((_k, i) => keyCell(r, i)));
  const statCells = rows.map((r) => STATS.map((c) => c.cell(r)));
  const statWidths = new Map(
    STATS.map((c, i) => [c, Math.max(c.name.length, ...statCells.map((cells) => cells[i]!.length))]),
  );
  const naturalKeys = keyHead.map((h, i) => Math.max(h.length, ...keyCells.map((c) => displayWidth(c[i]!))));
  const { keyWidths, stats, spark } = layout(naturalKeys, (c) => statWidths.get(c)!, o);
  // Values are cut in the middle, where the ends of names that differ stay apart; names of columns at the end.
  const cutPad = (text: string, w: number, cut = ellipsizeMiddle) => padToWidth(cut(text, w), w);
  const mark = (text: string, sorted: boolean) => (sorted ? s.underline(text) : text);
  const header = [
    ...keyHead.map((h, i) => mark(cutPad(h, keyWidths[i]!, ellipsize), o.sortedBy === 'key')),
    ...stats.map((c) => mark(c.name.padStart(statWidths.get(c)!), c.sort === o.sortedBy && c.name !== 'SHARE')),
    ...(spark ? [SPARK_HEAD] : []),
  ];
  const lines = [s.bold(header.join(GAP).trimEnd())];
  rows.forEach((row, r) => {
    const keys = keyCells[r]!.map((c, i) => cutPad(c, keyWidths[i]!));
    const numbers = stats.map((c) => {
      const text = statCells[r]![STATS.indexOf(c)]!.padStart(statWidths.get(c)!);
      return c.name === 'LAST SEEN' ? s.dim(text) : text;
    });
    const line = [...keys, ...numbers, ...(spark ? [s.cyan(row.spark === undefined ? '' : sparkline(row.spark))] : [])]
      .join(GAP)
      .trimEnd();
    lines.push(row.other ? s.dim(line) : line);
  });
  return lines;
}

/** What is read, escaped: "sinks default, secrets", "file audit.log"; a lab without sinks says so. */
export function sourceLabel(source: Readonly<Record<string, readonly string[]>>): string {
  const parts = Object.entries(source)
    .filter(([, names]) => names.length > 0)
    .map(
      ([kind, names]) => `${names.length === 1 ? kind.replace(/s$/, '') : kind} ${names.map(escapeText).join(', ')}`,
    );
  return parts.length > 0 ? parts.join('; ') : 'the lab (no sinks yet)';
}

/** The live view's state, for its header and footer. */
export interface TopScreen {
  /** What is read (sourceLabel). */
  source: string;
  window: string;
  /** Over the window, all groups together. */
  eventsPerSecond: number | null;
  bytesPerSecond: number | null;
  groups: number;
  paused: boolean;
  /** Still reading what was stored before it started. */
  loading: boolean;
  /** Some lines read were not audit events (they are counted, and reported at the end). */
  skipping: boolean;
  /** Set when groups beyond the cap count as "(other)". */
  capped?: number;
  sortedBy: SortColumn;
  reverse: boolean;
  /** Groups already left out of the rows given (they are cut to the screen here too). */
  hidden: number;
  /** Said in place of the keys' help, marked: the receiver stopped, say. */
  notice?: string;
}

/** How many groups a screen of `rows` lines shows: all but the header, the column names and the footer. */
export function groupRowsOn(rows: number): number {
  return Math.max(0, rows - 3);
}

/** The live view's keys, the least needed left out first on a narrow screen (`--help` lists them all). */
export const KEYS_HELP: readonly LinePart[] = [
  { text: 'q quit' },
  { text: 'p pause', drop: 8 },
  { text: '< > sort', drop: 7 },
  { text: 'r rate', drop: 5 },
  { text: 'e events', drop: 4 },
  { text: 'b bytes/s', drop: 3 },
  { text: 'l last seen', drop: 2 },
  { text: 'n name', drop: 1 },
  { text: 'R reverse', drop: 6 },
];

/**
 * The whole screen, at most `rows` lines of at most `cols` characters: a header (source, window,
 * totals, state), the table with as many groups as fit, and a footer with the keys.
 */
export function topScreenLines(
  screen: TopScreen,
  groups: readonly TopRow[],
  o: { keys: readonly string[]; style: TopStyle; cols: number; rows: number },
): string[] {
  const s = o.style;
  const fit = groupRowsOn(o.rows);
  const shown = Math.min(fit, groups.length);
  const hidden = screen.hidden + groups.length - shown;
  // On a narrow screen whole facts give way, the least telling first; the source is only cut.
  const facts: LinePart[] = [
    { text: screen.source },
    { text: `window ${screen.window}`, drop: 3 },
    { text: `${formatRate(screen.eventsPerSecond)} events/s`, drop: 4 },
    { text: `${formatBytes(screen.bytesPerSecond)}/s`, drop: 1 },
    {
      text: `${screen.groups} ${screen.groups === 1 ? 'group' : 'groups'}${hidden > 0 ? ` (${shown} shown)` : ''}`,
      drop: 5,
    },
    { text: `sorted by ${SORT_NAMES[screen.sortedBy]}${screen.reverse ? ', reversed' : ''}`, drop: 2 },
    ...(screen.capped !== undefined ? [{ text: `(other): keys beyond the first ${screen.capped}`, drop: 6 }] : []),
    ...(screen.skipping ? [{ text: 'some lines are not audit events', drop: 7 }] : []),
  ];
  const state = screen.paused ? 'PAUSED' : screen.loading ? 'reading stored events…' : '';
  const title = joinFitting(facts, ' · ', Math.max(0, o.cols - (state === '' ? 0 : displayWidth(state) + 1)));
  const gap = ' '.repeat(Math.max(1, o.cols - displayWidth(title) - state.length));
  const header =
    state === '' ? s.bold(title) : `${s.bold(title)}${gap}${screen.paused ? s.inverse(s.yellow(state)) : s.dim(state)}`;
  const table = topTableLines(groups.slice(0, fit), {
    keys: o.keys,
    style: s,
    width: o.cols,
    spark: true,
    sortedBy: screen.sortedBy,
  });
  const blank = Array<string>(Math.max(0, fit - shown)).fill('');
  const footer =
    screen.notice === undefined
      ? s.dim(joinFitting(KEYS_HELP, '  ', o.cols))
      : s.inverse(s.yellow(ellipsize(screen.notice, o.cols)));
  return [header, ...table, ...blank, footer].slice(0, Math.max(1, o.rows));
}

const SORT_NAMES: Record<SortColumn, string> = {
  key: 'name',
  events: 'EVENTS',
  rate: 'EVENTS/S',
  bytes: 'BYTES',
  byteRate: 'BYTES/S',
  last: 'LAST SEEN',
};
