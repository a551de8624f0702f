/**
 * From the counts to what `top` shows and prints: each group's rate over the window (or over the
 * whole span read), its share, its last-minute sparkline, sorted; the totals; and the JSON of
 * -o json and -o jsonl. Pure.
 */
import type { SortColumn, TopRow } from '../ui/topView.js';
import type { GroupTable, GroupValue } from './groups.js';
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
  /** What LAST SEEN is an age at (µs), when not `end`: the live view's wall clock. */
  now?: number;
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
  totals: {
    events: number;
    bytes: number;
    eventsPerSecond: number | null;
    bytesPerSecond: number | null;
    groups: number;
  };
  /** Everything read that passed the filters. */
  read: { events: number; bytes: number };
  window: { seconds: number; from: number; to: number } | undefined;
  span: { seconds: number; from: number; to: number } | undefined;
}

/** Whole seconds from the second of `from` to the second of `to`, both counted: one event alone spans 1s. */
function spanSeconds(from: number, to: number): number {
  return Math.floor(to / SECOND) - Math.floor(from / SECOND) + 1;
}

/** Key values A to Z: none first, codes as numbers, text by code unit; the same order on every run. */
function compareValues(a: readonly GroupValue[], b: readonly GroupValue[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** What ranks an item: the number of the sort column (biggest first), its key values, whether it is "(other)". */
interface Ranking<T> {
  rank(item: T, column: Exclude<SortColumn, 'key'>): number;
  values(item: T): readonly GroupValue[];
  other(item: T): boolean;
}

/** The order of `sort`: its column biggest first (the keys A to Z), ties by the keys, "(other)" last of equals; `reverse` turns it around. */
function comparer<T>(sort: Sort, r: Ranking<T>): (a: T, b: T) => number {
  const sign = sort.reverse ? -1 : 1;
  const column = sort.column;
  return (a, b) => {
    const by = column === 'key' ? 0 : r.rank(b, column) - r.rank(a, column);
    if (by !== 0) return sign * by;
    const others = Number(r.other(a)) - Number(r.other(b));
    return sign * (others !== 0 ? others : compareValues(r.values(a), r.values(b)));
  };
}

const ROW_RANKING: Ranking<ReportRow> = {
  rank: (row, column) => {
    switch (column) {
      case 'events':
        return row.events;
      case 'rate':
        return row.eventsPerSecond ?? -1;
      case 'bytes':
        return row.bytes;
      case 'byteRate':
        return row.bytesPerSecond ?? -1;
      case 'last':
        return row.last ?? -1;
    }
  },
  values: (row) => row.values,
  other: (row) => row.other,
};

/** Sorts rows already made (the paused live view, when the sort changes). */
export function sortRows(rows: ReportRow[], sort: Sort): void {
  rows.sort(comparer(sort, ROW_RANKING));
}

/**
 * The first `limit` items in the order of `cmp`, sorted; all of them without a limit. With one
 * (the live view's screen) each item is compared with the last kept, so a frame over 50,000
 * groups neither sorts them all nor makes a row of each.
 */
function firstOf<T>(items: T[], cmp: (a: T, b: T) => number, limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return items.sort(cmp);
  const kept: T[] = [];
  for (const item of items) {
    if (kept.length === limit && cmp(item, kept[limit - 1]!) >= 0) continue;
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(kept[mid]!, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    kept.splice(lo, 0, item);
    if (kept.length > limit) kept.pop();
  }
  return kept;
}

export function buildReport(table: GroupTable, o: ReportOptions): Report {
  const { end, window } = o;
  const span =
    table.first !== undefined && table.last !== undefined
      ? { seconds: spanSeconds(table.first, table.last), from: table.first, to: table.last }
      : undefined;
  // The window: the slot of `end` and the ones before it.
  let win: Report['window'];
  if (window !== undefined && end !== undefined) {
    const width = window.slotSeconds * SECOND;
    const to = (Math.floor(end / width) + 1) * width;
    win = { seconds: window.seconds, from: to - window.seconds * SECOND, to };
  }
  const seconds = window !== undefined ? win?.seconds : span?.seconds;
  const rate = (n: number) => (seconds === undefined ? null : n / seconds);
  // Each group's numbers first, in arrays: rows are made for the groups shown only.
  const groups = table.all();
  const rated = new Float64Array(2 * groups.length);
  const counted: number[] = [];
  const sum = { events: 0, bytes: 0 };
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    // What the rate is taken over: the window's slots (none to look at when last seen before it), or everything.
    if (win !== undefined && (g.last === undefined || g.last < win.from)) [rated[2 * i], rated[2 * i + 1]] = [0, 0];
    else if (win !== undefined && g.slots !== undefined)
      g.slots.sumInto(g.slots.slotOf(end!), window!.slots, rated, 2 * i);
    else [rated[2 * i], rated[2 * i + 1]] = [g.events, g.bytes];
    if (o.windowTotals && window !== undefined && rated[2 * i] === 0) continue;
    sum.events += rated[2 * i]!;
    sum.bytes += rated[2 * i + 1]!;
    counted.push(i);
  }
  const shown = (i: number, what: 'events' | 'bytes') =>
    o.windowTotals ? rated[2 * i + (what === 'bytes' ? 1 : 0)]! : groups[i]![what];
  const ranking: Ranking<number> = {
    rank: (i, column) => {
      switch (column) {
        case 'events':
          return shown(i, 'events');
        case 'rate':
          return rated[2 * i]!;
        case 'bytes':
          return shown(i, 'bytes');
        case 'byteRate':
          return rated[2 * i + 1]!;
        case 'last':
          return groups[i]!.last ?? -1;
      }
    },
    values: (i) => groups[i]!.values,
    other: (i) => groups[i]!.other,
  };
  const rows = firstOf(counted, comparer(o.sort, ranking), o.limit).map((i): ReportRow => {
    const g = groups[i]!;
    return {
      key: g.values,
      values: g.values,
      other: g.other,
      events: shown(i, 'events'),
      bytes: shown(i, 'bytes'),
      eventsPerSecond: rate(rated[2 * i]!),
      bytesPerSecond: rate(rated[2 * i + 1]!),
      share: sum.events > 0 ? rated[2 * i]! / sum.events : 0,
      lastSeenAge: end === undefined || g.last === undefined ? undefined : Math.max(0, (o.now ?? end) - g.last),
      first: g.first,
      last: g.last,
      ...(o.sparkline && end !== undefined ? { spark: table.sparkline(g, end) } : {}),
    };
  });
  const totals = o.windowTotals || window === undefined ? sum : { events: table.events, bytes: table.bytes };
  return {
    rows,
    hidden: counted.length - rows.length,
    totals: { ...totals, eventsPerSecond: rate(sum.events), bytesPerSecond: rate(sum.bytes), groups: counted.length },
    read: { events: table.events, bytes: table.bytes },
    window: win,
    span,
  };
}

const iso = (micros: number | undefined) =>
  micros === undefined ? null : new Date(Math.floor(micros / 1000)).toISOString();

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
export function reportDocument(
  report: Report,
  o: { keys: readonly GroupKey[]; source: Record<string, unknown>; skipped: unknown; cap: number; folded: boolean },
): Record<string, unknown> {
  const times = (t: { seconds: number; from: number; to: number } | undefined) =>
    t === undefined ? null : { seconds: t.seconds, from: iso(t.from), to: iso(t.to) };
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
