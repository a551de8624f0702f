/**
 * `-o FORMAT`, kubectl's output flag, in one place for every command that has it (`list`,
 * `status`, `sink list`, `doctor`, `policy test`; `tail` has its own event formats):
 *   table  the human view (the default; no flag)       wide   the same with more columns
 *   json   one document: the array of items, or the object that holds them (as --json printed)
 *   jsonl  one item per line (lists only)              yaml   the json document as YAML
 *   name   KIND/NAME per item, as `kubectl get -o name` (sink/default, lab/audit-lab)
 * What a program reads is written raw: no colour, no escaping, no decoration.
 */
import { stringify } from 'yaml';
import { formatBytes } from '../audit/bytes.js';
import type { Output } from './output.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'jsonl', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Printable<T> {
  /** What -o json and -o yaml print; default: the array of items. */
  document?: unknown;
  /** kubectl's KIND/NAME of an item, for -o name. */
  name(item: T): string;
  /** The human view; `wide` adds columns. Called for table and wide only. */
  table(wide: boolean): void;
  /** Said on stderr, in place of the table, when there is nothing to show. */
  empty?: string;
}

/**
 * YAML for a reader, not a YAML engine: lines never folded, and an object met twice written out
 * twice, never as an anchor and `*aN` aliases (the yaml library's default for shared objects).
 */
export function plainYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function printObjects<T>(out: Output, format: OutputFormat, items: readonly T[], p: Printable<T>): void {
  const doc = p.document !== undefined ? p.document : items;
  switch (format) {
    case 'json':
      out.data(`${JSON.stringify(doc, null, 2)}\n`);
      return;
    case 'yaml':
      out.data(plainYaml(doc));
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

/** A table with its header in bold (on a terminal). */
export function printTable(out: Output, lines: readonly string[]): void {
  lines.forEach((line, i) => out.line(i === 0 ? out.style.bold(line) : line));
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
