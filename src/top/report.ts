/**
 * From the counts to what `top` shows and prints: each group's rate over the window (or over the
 * whole span read), its share, its last-minute sparkline, sorted; the totals; and the JSON of
 * -o json and -o jsonl. Pure.
 */
import type { SortColumn, TopRow } from '../ui/topView.js';
import type { Group, GroupTable, GroupValue } from './groups.js';
import type { GroupKey } from './keys.js';
import { SECOND, type Window } from './window.js';

export interface Sort {
  column: SortColumn;
  reverse: boolean;
}

export interface ReportOptions {
  /** The end of what rates are taken over, in event time (µs): the newest event's, or the live clock. */
  end: number | undefined;
  /** Rates over the window that ends at `end` (else over the span of every event read). */
  window: Window | undefined;
  /** EVENTS and BYTES of the window alone, and groups with none in it left out (a window over what is stored). */
  windowTotals: boolean;
  sort: Sort;
  /** Rows kept after sorting (the rest are counted in `hidden`); all when undefined. */
  limit?: number;
  /** Give the kept rows their sparkline. */
  sparkline: boolean;
}

export interface ReportRow extends TopRow {
  values: readonly GroupValue[];
  /** Event times (µs). */
  first: number | undefined;
  last: number | undefined;
}

export interface Report {
  rows: ReportRow[];
  /** Rows left out by `limit`. */
  hidden: number;
  /** Of the groups counted (the window's when it has its own totals). */
  totals: { events: number; bytes: number; eventsPerSecond: number | null; bytesPerSecond: number | null; groups: number };
  /** Everything read that passed the filters. */
  read: { events: number; bytes: number };
  window: { seconds: number; from: number; to: number } | undefined;
  span: { seconds: number; from: number; to: number } | undefined;
}

/** Whole seconds from the second of `from` to the second of `to`, both counted: one event alone spans 1s. */
function spanSeconds(from: number, to: number): number {
  return Math.floor(to / SECOND) - Math.floor(from / SECOND) + 1;
}

/** How a row compares for `column`, biggest first (names A to Z). */
function comparer(column: SortColumn): (a: ReportRow, b: ReportRow) => number {
  const num = (f: (r: ReportRow) => number | null | undefined) => (a: ReportRow, b: ReportRow) => (f(b) ?? -1) - (f(a) ?? -1);
  switch (column) {
    case 'key':
      return () => 0;
    case 'events':
      return num((r) => r.events);
    case 'rate':
      return num((r) => r.eventsPerSecond);
    case 'bytes':
      return num((r) => r.bytes);
    case 'byteRate':
      return num((r) => r.bytesPerSecond);
    case 'last':
      return num((r) => r.last);
  }
}

const nameOf = (r: ReportRow) => (r.other ? '\uffff' : r.values.map((v) => (v === undefined ? '' : String(v))).join('\u0000'));

export function sortRows(rows: ReportRow[], sort: Sort): void {
  const by = comparer(sort.column);
  const names = new Map(rows.map((r) => [r, nameOf(r)]));
  const byName = (a: ReportRow, b: ReportRow) => {
    const x = names.get(a)!;
    const y = names.get(b)!;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const sign = sort.reverse ? -1 : 1;
  rows.sort((a, b) => sign * (by(a, b) || byName(a, b)));
}

export function buildReport(table: GroupTable, o: ReportOptions): Report {
  const { end, window } = o;
  const span = table.first !== undefined && table.last !== undefined ? { seconds: spanSeconds(table.first, table.last), from: table.first, to: table.last } : undefined;
  // The window: the slot of `end` and the ones before it.
  let win: Report['window'];
  if (window !== undefined && end !== undefined) {
    const width = window.slotSeconds * SECOND;
    const to = (Math.floor(end / width) + 1) * width;
    win = { seconds: window.seconds, from: to - window.seconds * SECOND, to };
  }
  const seconds = window !== undefined ? win?.seconds : span?.seconds;
  const rate = (n: number) => (seconds === undefined ? null : n / seconds);
  const rows: ReportRow[] = [];
  const made = new Map<ReportRow, { group: Group; rated: number }>();
  const sum = { events: 0, bytes: 0 };
  for (const g of table.all()) {
    // What the rate is taken over: the window's slots, or everything.
    const rated = win !== undefined && g.slots !== undefined ? g.slots.sum(g.slots.slotOf(end!), window!.slots) : g;
    if (o.windowTotals && window !== undefined && rated.events === 0) continue;
    sum.events += rated.events;
    sum.bytes += rated.bytes;
    const shown = o.windowTotals ? rated : g;
    const row: ReportRow = {
      key: g.values,
      values: g.values,
      other: g.other,
      events: shown.events,
      bytes: shown.bytes,
      eventsPerSecond: rate(rated.events),
      bytesPerSecond: rate(rated.bytes),
      share: 0,
      lastSeenAge: end === undefined || g.last === undefined ? undefined : Math.max(0, end - g.last),
      first: g.first,
      last: g.last,
    };
    rows.push(row);
    made.set(row, { group: g, rated: rated.events });
  }
  for (const [row, m] of made) row.share = sum.events > 0 ? m.rated / sum.events : 0;
  sortRows(rows, o.sort);
  const kept = o.limit === undefined ? rows : rows.slice(0, o.limit);
  if (o.sparkline && end !== undefined) for (const r of kept) r.spark = table.sparkline(made.get(r)!.group, end);
  const totals = o.windowTotals || window === undefined ? sum : { events: table.events, bytes: table.bytes };
  return {
    rows: kept,
    hidden: rows.length - kept.length,
    totals: { ...totals, eventsPerSecond: rate(sum.events), bytesPerSecond: rate(sum.bytes), groups: rows.length },
    read: { events: table.events, bytes: table.bytes },
    window: win,
    span,
  };
}

const iso = (micros: number | undefined) => (micros === undefined ? null : new Date(Math.floor(micros / 1000)).toISOString());

/** One group as -o jsonl prints it (and -o json lists it): its key by name, counts, rates, times. */
export function groupObject(r: ReportRow, keys: readonly GroupKey[]): Record<string, unknown> {
  return {
    key: Object.fromEntries(keys.map((k, i) => [k, r.values[i] ?? null])),
    ...(r.other ? { other: true } : {}),
    events: r.events,
    bytes: r.bytes,
    eventsPerSecond: r.eventsPerSecond,
    bytesPerSecond: r.bytesPerSecond,
    share: r.share,
    firstSeen: iso(r.first),
    lastSeen: iso(r.last),
  };
}

/** -o json: one document with the groups, the totals, the window or span, and the lines skipped. */
export function reportDocument(report: Report, o: { keys: readonly GroupKey[]; source: Record<string, unknown>; skipped: unknown; cap: number; folded: boolean }): Record<string, unknown> {
  const times = (t: { seconds: number; from: number; to: number } | undefined) => (t === undefined ? null : { seconds: t.seconds, from: iso(t.from), to: iso(t.to) });
  return {
    by: o.keys,
    source: o.source,
    window: times(report.window),
    span: times(report.span),
    totals: report.totals,
    read: report.read,
    // Groups beyond the cap count together as one (other) group.
    groupCap: { cap: o.cap, reached: o.folded },
    skipped: o.skipped,
    groups: report.rows.map((r) => groupObject(r, o.keys)),
  };
}
