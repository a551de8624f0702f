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
export type FollowRead = (
  signal: AbortSignal,
  show: (events: ReadEvent[], storedDone: boolean) => void,
  onFirstSkip: () => void,
) => Promise<Skipped>;

const SORT_KEYS: Record<string, SortColumn> = { r: 'rate', e: 'events', b: 'byteRate', l: 'last', n: 'key' };
/** Signals that end the view, and the exit code a shell expects for each (128 + its number). */
const ENDING_SIGNALS = { SIGTERM: 143, SIGHUP: 129 } as const;

/** What the screen shows (the report, paused or not, sorted as asked) and how keys and events change it. */
class LiveView {
  readonly sort: Sort = { column: 'rate', reverse: false };
  paused: { report: Report } | undefined;
  loading = true;
  skipping = false;
  /** How far the newest event read was ahead of the wall clock (negative: behind it), in µs. */
  private lead = -Infinity;
  private readonly clock: () => number;

  constructor(
    private readonly o: LiveOptions,
    private readonly screen: () => FullScreen,
  ) {
    this.clock = o.clock ?? Date.now;
  }

  private nowMicros(): number {
    return this.clock() * 1000;
  }

  private rows(): number {
    return Math.min(groupRowsOn(this.screen().size().rows), this.o.limit ?? Infinity);
  }

  private report(): Report {
    const { table } = this.o;
    const now = this.nowMicros();
    const end = table.last === undefined ? undefined : now + Math.max(this.lead, -DELIVERY_LAG);
    return buildReport(table, {
      end,
      now: Math.max(now, end ?? now),
      window: this.o.window,
      windowTotals: false,
      sort: this.sort,
      limit: this.rows(),
      sparkline: true,
    });
  }

  draw(): void {
    const { o, sort } = this;
    const screen = this.screen();
    const shown = this.paused?.report ?? this.report();
    const head = {
      source: o.source,
      window: formatSeconds(o.window.seconds),
      eventsPerSecond: shown.totals.eventsPerSecond,
      bytesPerSecond: shown.totals.bytesPerSecond,
      groups: shown.totals.groups,
      paused: this.paused !== undefined,
      loading: this.loading,
      skipping: this.skipping,
      capped: o.table.other !== undefined ? o.table.cap : undefined,
      sortedBy: sort.column,
      reverse: sort.reverse,
      hidden: shown.hidden,
      notice: o.notice?.(),
    };
    screen.draw(topScreenLines(head, shown.rows, { keys: o.keys, style: o.style, ...screen.size() }));
  }

  /** A key pressed: q and Ctrl-C `quit`; the others pause, sort, or do nothing. */
  key(key: string, quit: () => void): void {
    const { sort } = this;
    if (key === 'q' || key === '\u0003') {
      quit();
      return;
    }
    if (key === 'p' || key === ' ') this.paused = this.paused === undefined ? { report: this.report() } : undefined;
    else if (key === '<' || key === '>') {
      const n = SORT_COLUMNS.length;
      sort.column = SORT_COLUMNS[(SORT_COLUMNS.indexOf(sort.column) + (key === '<' ? -1 : 1) + n) % n]!;
    } else if (key === 'R') sort.reverse = !sort.reverse;
    else if (SORT_KEYS[key] !== undefined) sort.column = SORT_KEYS[key];
    else return;
    if (this.paused !== undefined) sortRows(this.paused.report.rows, sort);
    this.draw();
  }

  /** Events read; true when they end what was stored (the screen is then drawn at once). */
  add(events: readonly ReadEvent[], storedDone: boolean): boolean {
    const { table } = this.o;
    for (const r of events) table.add(r);
    if (table.last !== undefined) this.lead = Math.max(this.lead, table.last - this.nowMicros());
    if (!storedDone || !this.loading) return false;
    this.loading = false;
    return true;
  }
}

export async function runLive(
  o: LiveOptions,
  io: LiveIO,
  read: FollowRead,
): Promise<{ code: number; skipped: Skipped }> {
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, io.signal]);
  let code = 0;
  let failure: unknown;
  // A failure in a callback ends the view (restoring the terminal) and is thrown from here.
  const guard = (f: () => void) => () => {
    try {
      f();
    } catch (err) {
      failure ??= err;
      stop.abort();
    }
  };
  const onSignal = (name: keyof typeof ENDING_SIGNALS) => () => {
    code = ENDING_SIGNALS[name];
    stop.abort();
  };
  const signalHandlers = Object.keys(ENDING_SIGNALS).map(
    (name) => [name, onSignal(name as keyof typeof ENDING_SIGNALS)] as const,
  );

  const view: LiveView = new LiveView(o, () => screen);
  const screen: FullScreen = takeOver(io.out, io.input, {
    key: (k) => guard(() => view.key(k, () => stop.abort()))(),
    resize: guard(() => view.draw()),
  });
  // The last resort, should anything exit the process while the view is up.
  process.once('exit', screen.restore);
  for (const [name, handler] of signalHandlers) process.on(name, handler);
  let timer: NodeJS.Timeout | undefined;
  const tick = guard(() => {
    if (view.paused === undefined) view.draw();
    schedule();
  });
  // On the second: the rates step with the clock, as top's do.
  const schedule = () => (timer = setTimeout(tick, 1000 - (Date.now() % 1000)));
  try {
    guard(() => view.draw())();
    schedule();
    const skipped = await read(
      signal,
      (events, storedDone) => {
        if (view.add(events, storedDone)) guard(() => view.draw())();
      },
      () => (view.skipping = true),
    );
    if (failure !== undefined) throw failure;
    return { code, skipped };
  } finally {
    clearTimeout(timer);
    for (const [name, handler] of signalHandlers) process.off(name, handler);
    process.off('exit', screen.restore);
    screen.restore();
  }
}
