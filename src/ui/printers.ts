/**
 * `-o FORMAT`, kubectl's output flag, in one place for every command that has it (`list`,
 * `status`, `sink list`, `doctor`, `policy test`; `tail` has its own event formats):
 *   table  the human view (the default; no flag)       wide   the same with more columns
 *   json   one document: a listing's List (listDocument), or a report's own object
 *   jsonl  one item per line (lists only)              yaml   the json document as YAML
 *   name   KIND/NAME per item, as `kubectl get -o name` (sink/default, lab/audit-lab)
 * What a program reads is written raw: no colour, no escaping, no decoration.
 */
import { stringify } from 'yaml';
import { formatBytes } from '../audit/bytes.js';
import { timestampMicros } from '../audit/filter.js';
import { formatAge } from './topView.js';
import type { Output } from './output.js';
import { tableLines } from './table.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'jsonl', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * audit-lab's own apiVersion: what it lists (labs, sinks) are not Kubernetes objects, so the List
 * has kubectl's shape without claiming the core API's `v1`.
 */
export const LIST_API_VERSION = 'audit-lab/v1';

/** Every listing's -o json and -o yaml, in the shape of kubectl's List: `.items`, whatever is listed. */
export function listDocument<T>(items: readonly T[], metadata: Record<string, unknown> = {}) {
  return { apiVersion: LIST_API_VERSION, kind: 'List', metadata, items };
}

export interface Printable<T> {
  /** What -o json and -o yaml print for a report (status, doctor); a listing leaves it out and prints its List. */
  document?: unknown;
  /** A listing's List metadata: what its items share (the lab the sinks belong to). */
  metadata?: Record<string, unknown>;
  /** kubectl's KIND/NAME of an item, for -o name. */
  name(item: T): string;
  /** The human view; `wide` adds columns. Called for table and wide only. */
  table(wide: boolean): void;
  /** Said on stderr, in place of the table, when there is nothing to show. */
  empty?: string;
}

export function printObjects<T>(out: Output, format: OutputFormat, items: readonly T[], p: Printable<T>): void {
  const doc = p.document !== undefined ? p.document : listDocument(items, p.metadata);
  switch (format) {
    case 'json':
      out.data(`${JSON.stringify(doc, null, 2)}\n`);
      return;
    case 'yaml':
      out.data(stringify(doc, { lineWidth: 0 }));
      return;
    case 'jsonl':
      out.data(items.map((i) => `${JSON.stringify(i)}\n`).join(''));
      return;
    case 'name':
      out.data(items.map((i) => `${p.name(i)}\n`).join(''));
      return;
    case 'table':
    case 'wide':
      if (items.length === 0 && p.empty !== undefined) out.info(p.empty);
      else p.table(format === 'wide');
  }
}

/** A table, the header row first, fitted to the terminal's width and its header in bold (on a terminal). */
export function printTable(out: Output, cells: readonly (readonly string[])[], rightAligned?: ReadonlySet<number>): void {
  tableLines(cells, rightAligned, out.width).forEach((line, i) => out.line(i === 0 ? out.style.bold(line) : line));
}

/** A forwarding sink's counts, as the receiver reports them. */
export interface ForwardingCounts {
  backlogEvents: number;
  backlogBytes: number;
  backlogLimitBytes: number;
  dropped: number;
  retries: number;
  lastError: { message: string; at: string } | null;
}

/**
 * A forwarding sink's columns (`sink list -o wide`) and phrases (`status`): its backlog against
 * the bound, drops, retries and last error with its time; '-' each when no receiver reports them.
 */
export function forwardingCells(f: ForwardingCounts | null): { backlog: string; dropped: string; retries: string; lastError: string } {
  if (f === null) return { backlog: '-', dropped: '-', retries: '-', lastError: '-' };
  return {
    backlog: `${f.backlogEvents} (${formatBytes(f.backlogBytes, '')}/${formatBytes(f.backlogLimitBytes, '')})`,
    dropped: String(f.dropped),
    retries: String(f.retries),
    lastError: f.lastError ? `${f.lastError.at} ${f.lastError.message}` : '-',
  };
}

/**
 * A sink's LAST EVENT (`sink list`, `status`) as kubectl shows a time in a table, an age (`5m`,
 * `30h`); -o wide (and json) keep the time itself. One that is not RFC 3339 is shown as stored.
 */
export function lastEventCell(time: string | null, wide: boolean, nowMs: number): string {
  if (time === null) return '-';
  const micros = wide ? undefined : timestampMicros(time);
  return micros === undefined ? time : formatAge(nowMs * 1000 - micros);
}
