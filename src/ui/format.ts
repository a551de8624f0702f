/**
 * How `tail` shows an event, and its Ctrl-C summary. Pure: events in, strings out; colour comes
 * from the style it is given (Output.style, which is colourless off a TTY or with NO_COLOR).
 * Every value shown comes from an event (or a stream file's name), so each cell and each counted
 * key goes through escapeText before it is measured, padded or painted.
 */
import type { ChalkInstance } from 'chalk';
import { eventTime, latencyMicros, resourceOf, responseCode, type StoredEvent, str } from '../audit/filter.js';
import { escapeText } from './escape.js';

export type Style = Pick<ChalkInstance, 'dim' | 'bold' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan'>;

const NONE = '-';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** HH:MM:SS.mmm (UTC, as the stored timestamps are); with the date too when `full`. */
export function formatTime(micros: number | undefined, full = false): string {
  if (micros === undefined) return NONE;
  const d = new Date(Math.floor(micros / 1000));
  if (Number.isNaN(d.getTime())) return NONE;
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
  return full ? `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${time}Z` : time;
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
  return Array.isArray(e.sourceIPs) && e.sourceIPs.length > 0 ? e.sourceIPs.filter((ip) => typeof ip === 'string').join(',') || NONE : NONE;
}

type Paint = (text: string, e: StoredEvent) => string;

interface Column {
  name: string;
  cell(e: StoredEvent, sink: string): string;
  /** Padding grows with the widest value seen, up to this; longer values overflow, never cut. */
  max: number;
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

function columns(s: Style, wide: boolean): Column[] {
  const base: Column[] = [
    { name: 'time', cell: (e) => formatTime(eventTime(e), wide), max: 30, paint: (t) => s.dim(t) },
    { name: 'sink', cell: (_e, sink) => sink, max: 20, paint: (t) => s.magenta(t) },
    { name: 'stage', cell: (e) => str(e.stage) ?? NONE, max: 16, paint: stagePaint(s) },
    { name: 'user', cell: (e) => str(e.user?.username) ?? NONE, max: 40, paint: (t) => s.cyan(t) },
    { name: 'verb', cell: (e) => str(e.verb) ?? NONE, max: 16, paint: verbPaint(s) },
    { name: 'resource', cell: resourceColumn, max: 36, paint: (t) => s.bold(t) },
    { name: 'object', cell: objectOf, max: 48 },
    { name: 'code', cell: (e) => String(responseCode(e) ?? NONE), max: 3, right: true, paint: codePaint(s) },
    // Nothing has happened yet at RequestReceived: its zero latency says nothing.
    { name: 'latency', cell: (e) => (e.stage === 'RequestReceived' ? NONE : formatLatency(latencyMicros(e))), max: 8, right: true, paint: (t) => s.dim(t) },
  ];
  if (!wide) return base;
  return [
    ...base,
    { name: 'source', cell: sourceIPOf, max: 39 },
    { name: 'userAgent', cell: (e) => str(e.userAgent) ?? NONE, max: 48, paint: (t) => s.dim(t) },
    { name: 'requestURI', cell: (e) => str(e.requestURI) ?? NONE, max: 60 },
    { name: 'auditID', cell: (e) => str(e.auditID) ?? NONE, max: 36, paint: (t) => s.dim(t) },
  ];
}

/**
 * One aligned line per event. Column widths grow with what has been shown (call `measure` first
 * with everything known up front, so a finite listing is aligned from its first line).
 */
export class PrettyFormatter {
  private readonly cols: Column[];
  private readonly widths: number[];

  constructor(
    style: Style,
    readonly wide = false,
  ) {
    this.cols = columns(style, wide);
    this.widths = this.cols.map(() => 0);
  }

  measure(items: Iterable<{ event: StoredEvent; sink: string }>): void {
    for (const { event, sink } of items) this.grow(this.cells(event, sink));
  }

  /** What each column shows, escaped: widths are those of the text the terminal really prints. */
  private cells(event: StoredEvent, sink: string): string[] {
    return this.cols.map((c) => escapeText(c.cell(event, sink)));
  }

  private grow(cells: string[]): void {
    cells.forEach((cell, i) => {
      const w = Math.min(cell.length, this.cols[i]!.max);
      if (w > this.widths[i]!) this.widths[i] = w;
    });
  }

  format(event: StoredEvent, sink: string): string {
    const cells = this.cells(event, sink);
    this.grow(cells);
    const last = cells.length - 1;
    return cells
      .map((cell, i) => {
        const col = this.cols[i]!;
        const width = this.widths[i]!;
        // Padding is measured on the plain text, so escape codes never count towards a width.
        const gap = ' '.repeat(Math.max(0, width - cell.length));
        const painted = col.paint ? col.paint(cell, event) : cell;
        return col.right ? gap + painted : i === last ? painted : painted + gap;
      })
      .join('  ');
  }
}

/** -o json: each event as indented JSON, exactly the stored fields. */
export function formatJson(event: StoredEvent): string {
  return JSON.stringify(event, null, 2);
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

export function formatSummary(t: Tally, style: Style, opts: { skipped?: number; limit?: number } = {}): string {
  const limit = opts.limit ?? 8;
  const lines = [style.bold(`${t.total} event${t.total === 1 ? '' : 's'} shown`)];
  if (t.total > 0) {
    lines.push(`  ${style.dim('by verb:')} ${topCounts(t.verbs, limit)}`);
    lines.push(`  ${style.dim('by user:')} ${topCounts(t.users, limit)}`);
    lines.push(`  ${style.dim('by code:')} ${topCounts(t.codes, limit)}`);
  }
  if (opts.skipped) lines.push(`  ${style.dim('skipped:')} ${opts.skipped} unparseable line${opts.skipped === 1 ? '' : 's'}`);
  return lines.join('\n');
}
