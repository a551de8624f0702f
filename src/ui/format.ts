/**
 * How `tail` shows an event, and its Ctrl-C summary. Pure: events in, strings out; colour comes
 * from the style it is given (Output.style, which is colourless off a TTY or with NO_COLOR).
 * Every value shown comes from an event (or a stream file's name), so each cell and each counted
 * key goes through escapeText before it is measured, padded or painted.
 */
import type { ChalkInstance } from 'chalk';
import { eventTime, latencyMicros, resourceOf, responseCode, type StoredEvent, str } from '../audit/filter.js';
import { escapeLines, escapeText } from './escape.js';
import { displayWidth, ellipsize, ellipsizeMiddle, levelWidths, wrapLines, wrapText } from './width.js';

export type Style = Pick<ChalkInstance, 'dim' | 'bold' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan'>;

const NONE = '-';

const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * HH:MM:SS.mmm in local time, or UTC with `utc`; with the date and zone too when `full`
 * (2024-05-01T10:00:00.000Z, 2024-05-01T12:00:00.000+02:00).
 */
export function formatTime(micros: number | undefined, full = false, utc = true): string {
  if (micros === undefined) return NONE;
  const d = new Date(Math.floor(micros / 1000));
  if (Number.isNaN(d.getTime())) return NONE;
  const [y, mo, day, h, mi, sec, ms] = utc
    ? [
        d.getUTCFullYear(),
        d.getUTCMonth(),
        d.getUTCDate(),
        d.getUTCHours(),
        d.getUTCMinutes(),
        d.getUTCSeconds(),
        d.getUTCMilliseconds(),
      ]
    : [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  const time = `${pad2(h)}:${pad2(mi)}:${pad2(sec)}.${String(ms).padStart(3, '0')}`;
  if (!full) return time;
  let zone = 'Z';
  if (!utc) {
    const off = -d.getTimezoneOffset();
    zone = `${off < 0 ? '-' : '+'}${pad2(Math.floor(Math.abs(off) / 60))}:${pad2(Math.abs(off) % 60)}`;
  }
  return `${y}-${pad2(mo + 1)}-${pad2(day)}T${time}${zone}`;
}

/** 850µs, 12.3ms, 145ms, 1.25s, 12.5s, 4m05s: short, and precise where it matters. */
export function formatLatency(micros: number | undefined): string {
  if (micros === undefined || !Number.isFinite(micros)) return NONE;
  if (micros < 0) return `-${formatLatency(-micros)}`;
  if (micros < 1_000) return `${Math.round(micros)}µs`;
  const ms = micros / 1_000;
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = ms / 1_000;
  if (s < 10) return `${s.toFixed(2)}s`;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${pad2(whole % 60)}s`;
}

/** namespace/name, namespace alone for collections, name alone when cluster-scoped. */
export function objectOf(e: StoredEvent): string {
  const ns = str(e.objectRef?.namespace) ?? '';
  const name = str(e.objectRef?.name) ?? '';
  if (ns !== '' && name !== '') return `${ns}/${name}`;
  return ns || name || NONE;
}

/** The resource column: group/resource/subresource, or the path of a non-resource request (/healthz). */
export function resourceColumn(e: StoredEvent): string {
  const r = resourceOf(e);
  if (r !== undefined) return r;
  const uri = str(e.requestURI);
  return uri ? uri.split('?', 1)[0]! : NONE;
}

export function sourceIPOf(e: StoredEvent): string {
  return Array.isArray(e.sourceIPs) && e.sourceIPs.length > 0
    ? e.sourceIPs.filter((ip) => typeof ip === 'string').join(',') || NONE
    : NONE;
}

type Paint = (text: string, e: StoredEvent) => string;

interface Column {
  /** The header's name (upper case, as kubectl's). */
  name: string;
  cell(e: StoredEvent, sink: string): string;
  /** Padding grows with the widest value seen, up to this; longer values overflow, never cut. */
  max: number;
  /** Fitting a terminal may cut the column down to this, with an ellipsis; never cut without. */
  min?: number;
  /** Fitting a terminal: the value said shorter, before any cut (ResponseComplete as Complete). */
  short?: (cell: string) => string;
  /**
   * Fitting a terminal: left out, lowest first, when the names would be cut below READABLE;
   * before any of them, one that has shown a single value (it tells no events apart).
   */
  drop?: number;
  right?: boolean;
  paint?: Paint;
}

function verbPaint(s: Style): Paint {
  return (t, e) => {
    switch (str(e.verb)) {
      case 'create':
        return s.green(t);
      case 'update':
      case 'patch':
        return s.yellow(t);
      case 'delete':
      case 'deletecollection':
        return s.red(t);
      case 'watch':
        return s.dim(t);
      default:
        return t;
    }
  };
}

function codePaint(s: Style): Paint {
  return (t, e) => {
    const code = responseCode(e);
    if (code === undefined) return s.dim(t);
    if (code >= 500) return s.red(s.bold(t));
    if (code >= 400) return s.yellow(t);
    if (code >= 300) return s.cyan(t);
    return s.green(t);
  };
}

function stagePaint(s: Style): Paint {
  return (t, e) => {
    switch (str(e.stage)) {
      case 'Panic':
        return s.red(s.bold(t));
      case 'RequestReceived':
      case 'ResponseStarted':
        return s.dim(t);
      default:
        return t;
    }
  };
}

// The last column is not padded, so it takes what is left of a terminal's width: the object,
// the longest and least predictable value, comes last; the short fixed-size ones before it.
function columns(s: Style, wide: boolean, utc: boolean): Column[] {
  const base: Column[] = [
    { name: 'TIME', cell: (e) => formatTime(eventTime(e), wide, utc), max: 30, paint: (t) => s.dim(t) },
    { name: 'SINK', cell: (_e, sink) => sink, max: 20, min: 8, drop: 3, paint: (t) => s.magenta(t) },
    // Received shows no code, so without the column it is still told from Complete.
    {
      name: 'STAGE',
      cell: (e) => str(e.stage) ?? NONE,
      max: 16,
      min: 8,
      short: shortStage,
      drop: 2,
      paint: stagePaint(s),
    },
    { name: 'USER', cell: (e) => str(e.user?.username) ?? NONE, max: 40, min: 6, paint: (t) => s.cyan(t) },
    { name: 'VERB', cell: (e) => str(e.verb) ?? NONE, max: 16, min: 6, paint: verbPaint(s) },
    { name: 'CODE', cell: (e) => String(responseCode(e) ?? NONE), max: 3, right: true, paint: codePaint(s) },
    // Nothing has happened yet at RequestReceived: its zero latency says nothing.
    {
      name: 'LATENCY',
      cell: (e) => (e.stage === 'RequestReceived' ? NONE : formatLatency(latencyMicros(e))),
      max: 8,
      right: true,
      drop: 1,
      paint: (t) => s.dim(t),
    },
    { name: 'RESOURCE', cell: resourceColumn, max: 36, min: 6, paint: (t) => s.bold(t) },
    { name: 'OBJECT', cell: objectOf, max: 48, min: 10 },
  ];
  if (!wide) return base;
  return [
    ...base,
    { name: 'SOURCE', cell: sourceIPOf, max: 39 },
    { name: 'USER-AGENT', cell: (e) => str(e.userAgent) ?? NONE, max: 48, paint: (t) => s.dim(t) },
    { name: 'REQUEST-URI', cell: (e) => str(e.requestURI) ?? NONE, max: 60 },
    { name: 'AUDIT-ID', cell: (e) => str(e.auditID) ?? NONE, max: 36, paint: (t) => s.dim(t) },
  ];
}

// Each stage's last word still tells them apart: Received, Started, Complete, Panic.
export function shortStage(stage: string): string {
  return /^(RequestReceived|ResponseStarted|ResponseComplete)$/.test(stage)
    ? stage.replace(/^(Request|Response)/, '')
    : stage;
}

/** Below this, a cut name says too little: columns that can be are left out first. */
const READABLE = 16;

export interface PrettyOptions {
  /** -o wide: every column, full timestamps, nothing cut. */
  wide?: boolean;
  /** A terminal's width: columns are cut (with an ellipsis) so that a line never exceeds it. */
  width?: number;
  /** Times in UTC; local time otherwise. */
  utc?: boolean;
  /** Column names count towards the widths (a header line will be printed). */
  header?: boolean;
  /**
   * A SINK column, for events of several sinks (the default). Left out for one sink but with
   * `wide`, as kubectl logs names the container only when there are several: on an 80-column
   * terminal its width goes to the user and the object.
   */
  sinkColumn?: boolean;
}

const GAP = '  ';

/**
 * One aligned line per event. Column widths grow with what has been shown (call `measure` first
 * with everything known up front, so a finite listing is aligned from its first line). Given a
 * terminal's `width` (not with `wide`), columns that tell events apart least are left out and
 * the widest are cut down in their middle, each to its `min` at most, so every line fits; the
 * last column takes what is left.
 */
export class PrettyFormatter {
  private readonly cols: Column[];
  /** The widest value seen per column, up to its max. */
  private readonly natural: number[];
  /** The one value each column has shown so far; null once it has shown two. */
  private readonly only: (string | null | undefined)[];
  /** What each column is padded (or cut) to; undefined: left out. */
  private widths: (number | undefined)[];
  private readonly fitTo: number | undefined;

  constructor(
    private readonly style: Style,
    opts: PrettyOptions = {},
  ) {
    const wide = opts.wide ?? false;
    this.fitTo = wide ? undefined : opts.width;
    this.cols = columns(style, wide, opts.utc ?? false).filter(
      (c) => c.name !== 'SINK' || wide || (opts.sinkColumn ?? true),
    );
    this.natural = this.cols.map((c) => (opts.header ? c.name.length : 0));
    this.only = this.cols.map(() => undefined);
    this.widths = [...this.natural];
  }

  measure(items: Iterable<{ event: StoredEvent; sink: string }>): void {
    for (const { event, sink } of items) this.grow(this.cells(event, sink));
  }

  /** What each column shows, escaped: widths are those of the text the terminal really prints. */
  private cells(event: StoredEvent, sink: string): string[] {
    return this.cols.map((c) => {
      const text = escapeText(c.cell(event, sink));
      return this.fitTo !== undefined && c.short ? c.short(text) : text;
    });
  }

  private grow(cells: string[]): void {
    let grew = false;
    cells.forEach((cell, i) => {
      const w = Math.min(displayWidth(cell), this.cols[i]!.max);
      if (w > this.natural[i]!) {
        this.natural[i] = w;
        grew = true;
      }
      const only = this.only[i];
      if (only === undefined) this.only[i] = cell;
      else if (only !== null && only !== cell) {
        this.only[i] = null;
        grew = true;
      }
    });
    if (grew) this.widths = this.fit();
  }

  /**
   * Widths for the terminal: the natural ones when they fit. Else columns are left out while the
   * names (the cuttable columns) would be cut below READABLE: first any that has shown one value
   * only, then by their `drop` rank (LATENCY, STAGE, SINK); the widest cuttable columns are then
   * cut to a common level, never under their min. The last column, not padded, takes what is left.
   */
  private fit(): (number | undefined)[] {
    const natural = [...this.natural];
    if (this.fitTo === undefined) return natural;
    const width = this.fitTo;
    const floors = this.cols.map((c) => c.min);
    const length = (ws: (number | undefined)[]) => {
      const shown = ws.filter((w): w is number => w !== undefined);
      return shown.reduce((a, b) => a + b, 0) + GAP.length * (shown.length - 1);
    };
    if (length(natural) <= width) return natural;
    const shown = this.cols.map(() => true);
    const readable = () =>
      natural.map((w, i) =>
        !shown[i] ? undefined : floors[i] === undefined ? w : Math.min(w, Math.max(READABLE, floors[i]!)),
      );
    const same = (i: number) => typeof this.only[i] === 'string';
    const order = this.cols
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => c.drop !== undefined)
      .sort((a, b) => Number(same(b.i)) - Number(same(a.i)) || a.c.drop! - b.c.drop!);
    for (const { i } of order) {
      if (length(readable()) <= width) break;
      shown[i] = false;
    }
    const kept = natural.flatMap((w, i) => (shown[i] ? [w] : []));
    const keptFloors = floors.filter((_f, i) => shown[i]);
    const fitted = levelWidths(kept, keptFloors, width - GAP.length * (kept.length - 1));
    const widths: (number | undefined)[] = shown.map((on) => (on ? fitted.shift() : undefined));
    const last = widths.length - 1;
    widths[last] = Math.max(this.cols[last]!.min ?? 0, width - length(widths.slice(0, last)) - GAP.length);
    return widths;
  }

  /** The names of the columns shown (the header changes with them). */
  shownColumns(): string {
    return this.cols
      .filter((_c, i) => this.widths[i] !== undefined)
      .map((c) => c.name)
      .join(' ');
  }

  /** The column names, dim, aligned with the lines (print it after `measure`). */
  header(): string {
    return this.style.dim(
      this.join(
        this.cols.map((c) => c.name),
        (t) => t,
        ellipsize,
      ),
    );
  }

  format(event: StoredEvent, sink: string): string {
    const cells = this.cells(event, sink);
    this.grow(cells);
    return this.join(cells, (t, i) => this.cols[i]!.paint?.(t, event) ?? t);
  }

  private join(cells: string[], paint: (text: string, i: number) => string, cut = ellipsizeMiddle): string {
    const last = cells.length - 1;
    const shown: string[] = [];
    cells.forEach((raw, i) => {
      const width = this.widths[i];
      if (width === undefined) return;
      const col = this.cols[i]!;
      const cell = this.fitTo !== undefined ? cut(raw, width) : raw;
      // Padding is measured on the plain text, so escape codes never count towards a width.
      const gap = ' '.repeat(Math.max(0, width - displayWidth(cell)));
      const painted = paint(cell, i);
      shown.push(col.right ? gap + painted : i === last ? painted : painted + gap);
    });
    return shown.join(GAP);
  }
}

/** -o json while following: each event as indented JSON, exactly the stored fields. */
export function formatJson(event: StoredEvent): string {
  return JSON.stringify(event, null, 2);
}

/**
 * -o json of a finite listing: one document, an audit.k8s.io/v1 EventList (what the API server's
 * webhook backend posts), its items the stored events as they are.
 */
export function formatEventList(events: readonly StoredEvent[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: events }, null, 2);
}

/** What the Ctrl-C summary counts: the events shown. */
export class Tally {
  total = 0;
  readonly verbs = new Map<string, number>();
  readonly users = new Map<string, number>();
  readonly codes = new Map<string, number>();

  add(e: StoredEvent): void {
    this.total++;
    bump(this.verbs, str(e.verb) ?? NONE);
    bump(this.users, str(e.user?.username) ?? NONE);
    bump(this.codes, String(responseCode(e) ?? NONE));
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Most frequent first, then by name; the long tail folded into "+N more". */
export function topCounts(m: ReadonlyMap<string, number>, limit: number): string {
  const sorted = [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const shown = sorted.slice(0, limit).map(([k, n]) => `${escapeText(k)} ${n}`);
  const rest = sorted.length - limit;
  if (rest > 0) shown.push(`+${rest} more`);
  return shown.join(', ');
}

/** A place in a file as editors and compilers print one: `audit.log:7: why`. */
export function placeText(p: { file: string; line: number; reason: string }): string {
  return `${p.file}:${p.line}: ${p.reason}`;
}

/** The Ctrl-C summary; given a terminal's `width`, each count list wraps under its own start. */
export function formatSummary(
  t: Tally,
  style: Style,
  opts: { skipped?: number; limit?: number; width?: number } = {},
): string {
  const limit = opts.limit ?? 8;
  const lines = [style.bold(`${t.total} event${t.total === 1 ? '' : 's'} shown`)];
  const row = (label: string, text: string) => {
    const lead = `  ${label} `;
    const wrapped = wrapText(text, opts.width, { lead: lead.length, indent: lead.length });
    lines.push(`  ${style.dim(label)} ${wrapped.join('\n')}`);
  };
  if (t.total > 0) {
    row('by verb:', topCounts(t.verbs, limit));
    row('by user:', topCounts(t.users, limit));
    row('by code:', topCounts(t.codes, limit));
  }
  const n = opts.skipped ?? 0;
  if (n > 0) row('refused:', `${n} line${n === 1 ? '' : 's'} not audit events, listed above`);
  return lines.join('\n');
}

/** Lines that were not audit events (streams/events.ts Skipped): how many, and the first ones, where and why. */
export interface SkippedLines {
  count: number;
  lines: readonly { file: string; line: number; reason: string }[];
}

/** What to do about lines that are not audit events. */
export const REFUSED_HINT =
  'each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them';

/**
 * Lines read that were not audit events, in the one wording every command that reads events
 * lists them in (`tail`, `top`, `policy test`, `policy suggest`, a lab's streams or --file): how
 * many, then one per line as editors read a place (`audit.log:7: why`, the receiver's reason), and
 * how many more.
 */
export function refusedText(s: SkippedLines): string | undefined {
  const n = s.count;
  if (n === 0) return undefined;
  const listed = s.lines.map((l) => `\n  ${placeText(l)}`).join('');
  const more = n - s.lines.length;
  const head =
    n === 1
      ? '1 line is not audit events (the receiver would refuse it), so it was left out:'
      : `${n} lines are not audit events (the receiver would refuse them), so they were left out:`;
  return `${head}${listed}${more > 0 ? `\n  ... and ${more} more` : ''}`;
}

/** Where refusedText goes: Output's error and its hint line, as main.ts prints a UserError's. */
export interface RefusedOut {
  error(text: string): void;
  info(text: string): void;
  readonly errStyle: Pick<Style, 'dim'>;
  readonly errWidth: number | undefined;
}

/** Prints the lines that were not audit events (refusedText) and what to do, at a command's end; nothing when none. */
export function printRefused(out: RefusedOut, s: SkippedLines): void {
  const text = refusedText(s);
  if (text === undefined) return;
  out.error(text);
  out.info(`${out.errStyle.dim('hint:')} ${wrapLines(escapeLines(REFUSED_HINT), out.errWidth, 'hint: '.length)}`);
}
