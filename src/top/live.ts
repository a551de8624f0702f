/**
 * `top` at a terminal: the full-screen view, redrawn on every second tick (and at once on a key,
 * a resize, or when what was stored has been read), until q, Ctrl-C, SIGTERM or SIGHUP; the
 * terminal is given back as it was in every case, errors included.
 *
 * Rates, LAST SEEN and the sparklines end at now: the wall clock, less the delivery lag seen
 * (the smallest lag of the newest event behind the wall clock when it was read), since a lab's
 * events arrive a batch late and ending at the wall clock itself would show the last second or
 * so empty. The lag counted is at most DELIVERY_LAG: events read from a lab idle for 15 minutes
 * must show 0 events/s and LAST SEEN 15m, not the minute before they stopped.
 */
import type { Skipped } from '../streams/events.js';
import type { ReadEvent } from '../streams/merge.js';
import { type FullScreen, type KeysIn, type ScreenOut, takeOver } from '../ui/terminal.js';
import { groupRowsOn, SORT_COLUMNS, type SortColumn, type TopStyle, topScreenLines } from '../ui/topView.js';
import type { GroupTable } from './groups.js';
import { buildReport, type Report, type Sort, sortRows } from './report.js';
import { formatSeconds, SECOND, type Window } from './window.js';

export interface LiveOptions {
  table: GroupTable;
  /** The --by keys, the key columns' names. */
  keys: readonly string[];
  window: Window;
  /** What is read, for the header. */
  source: string;
  style: TopStyle;
  /** At most this many groups, even on a taller screen. */
  limit?: number;
  /** Shown at the foot of the screen while it returns text (the receiver stopped, say). */
  notice?: () => string | undefined;
  /** The wall clock in ms (a test seam). */
  clock?: () => number;
}

/** The longest a lab's newest event is taken to be merely late: a static lab's batch wait (1 s) and its delivery. */
const DELIVERY_LAG = 2 * SECOND;

export interface LiveIO {
  out: ScreenOut;
  input: KeysIn;
  /** Ends the view from outside (SIGINT through untilStopped). */
  signal: AbortSignal;
}

/** Reads the source, following, handing each batch to `show`, until `signal` aborts. */
export type FollowRead = (signal: AbortSignal, show: (events: ReadEvent[], storedDone: boolean) => void, onFirstSkip: () => void) => Promise<Skipped>;

const SORT_KEYS: Record<string, SortColumn> = { r: 'rate', e: 'events', b: 'byteRate', l: 'last', n: 'key' };
/** Signals that end the view, and the exit code a shell expects for each (128 + its number). */
const ENDING_SIGNALS = { SIGTERM: 143, SIGHUP: 129 } as const;

export async function runLive(o: LiveOptions, io: LiveIO, read: FollowRead): Promise<{ code: number; skipped: Skipped }> {
  const { table } = o;
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, io.signal]);
  const sort: Sort = { column: 'rate', reverse: false };
  let paused: { report: Report } | undefined;
  let loading = true;
  let skipping = false;
  let lead = -Infinity;
  let code = 0;
  let failure: unknown;
  const clock = o.clock ?? Date.now;
  const nowMicros = () => clock() * 1000;

  const report = (limit: number): Report => {
    const now = nowMicros();
    const end = table.last === undefined ? undefined : now + Math.max(lead, -DELIVERY_LAG);
    return buildReport(table, { end, now: Math.max(now, end ?? now), window: o.window, windowTotals: false, sort, limit, sparkline: true });
  };
  const draw = () => {
    const size = screen.size();
    const shown = paused?.report ?? report(Math.min(groupRowsOn(size.rows), o.limit ?? Infinity));
    const lines = topScreenLines(
      {
        source: o.source,
        window: formatSeconds(o.window.seconds),
        eventsPerSecond: shown.totals.eventsPerSecond,
        bytesPerSecond: shown.totals.bytesPerSecond,
        groups: shown.totals.groups,
        paused: paused !== undefined,
        loading,
        skipping,
        capped: table.other !== undefined ? table.cap : undefined,
        sortedBy: sort.column,
        reverse: sort.reverse,
        hidden: shown.hidden,
        notice: o.notice?.(),
      },
      shown.rows,
      { keys: o.keys, style: o.style, ...size },
    );
    screen.draw(lines);
  };
  // A failure in a callback ends the view (restoring the terminal) and is thrown from here.
  const guard = (f: () => void) => () => {
    try {
      f();
    } catch (err) {
      failure ??= err;
      stop.abort();
    }
  };
  const onKey = (key: string) => {
    if (key === 'q' || key === '\u0003') return stop.abort();
    if (key === 'p' || key === ' ') paused = paused === undefined ? { report: report(Math.min(groupRowsOn(screen.size().rows), o.limit ?? Infinity)) } : undefined;
    else if (key === '<' || key === '>') sort.column = SORT_COLUMNS[(SORT_COLUMNS.indexOf(sort.column) + (key === '<' ? -1 : 1) + SORT_COLUMNS.length) % SORT_COLUMNS.length]!;
    else if (key === 'R') sort.reverse = !sort.reverse;
    else if (SORT_KEYS[key] !== undefined) sort.column = SORT_KEYS[key];
    else return;
    if (paused !== undefined) sortRows(paused.report.rows, sort);
    draw();
  };
  const onSignal = (name: keyof typeof ENDING_SIGNALS) => () => {
    code = ENDING_SIGNALS[name];
    stop.abort();
  };
  const signalHandlers = Object.keys(ENDING_SIGNALS).map((name) => [name, onSignal(name as keyof typeof ENDING_SIGNALS)] as const);

  const screen: FullScreen = takeOver(io.out, io.input, { key: (k) => guard(() => onKey(k))(), resize: guard(draw) });
  // The last resort, should anything exit the process while the view is up.
  process.once('exit', screen.restore);
  for (const [name, handler] of signalHandlers) process.on(name, handler);
  let timer: NodeJS.Timeout | undefined;
  const tick = guard(() => {
    if (paused === undefined) draw();
    schedule();
  });
  // On the second: the rates step with the clock, as top's do.
  const schedule = () => (timer = setTimeout(tick, 1000 - (Date.now() % 1000)));
  try {
    guard(draw)();
    schedule();
    const skipped = await read(signal, (events, storedDone) => {
      for (const r of events) table.add(r);
      if (table.last !== undefined) lead = Math.max(lead, table.last - nowMicros());
      if (storedDone && loading) {
        loading = false;
        guard(draw)();
      }
    }, () => (skipping = true));
    if (failure !== undefined) throw failure;
    return { code, skipped };
  } finally {
    clearTimeout(timer);
    for (const [name, handler] of signalHandlers) process.off(name, handler);
    process.off('exit', screen.restore);
    screen.restore();
  }
}
