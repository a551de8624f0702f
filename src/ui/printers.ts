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

/**
 * YAML for a reader, not a YAML engine: lines never folded, and an object met twice written out
 * twice, never as an anchor and `*aN` aliases (the yaml library's default for shared objects).
 */
export function plainYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function printObjects<T>(out: Output, format: OutputFormat, items: readonly T[], p: Printable<T>): void {
  const doc = p.document !== undefined ? p.document : listDocument(items, p.metadata);
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

/** A table, the header row first, fitted to the terminal's width and its header in bold (on a terminal). */
export function printTable(
  out: Output,
  cells: readonly (readonly string[])[],
  rightAligned?: ReadonlySet<number>,
): void {
  for (const [i, line] of tableLines(cells, rightAligned, out.width).entries())
    out.line(i === 0 ? out.style.bold(line) : line);
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
export function forwardingCells(f: ForwardingCounts | null): {
  backlog: string;
  dropped: string;
  retries: string;
  lastError: string;
} {
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

/** The formats of a list printed item by item as it is made (ItemStream). */
export type StreamedFormat = 'json' | 'jsonl' | 'yaml' | 'name';

/** Text for stdout is gathered up to this much, so a long list is a few large writes, not one per item. */
const FLUSH_AT = 64 * 1024;

/**
 * A list too long to hold, printed as its items come, in the shape printObjects gives the whole:
 * `json` the document `{...head, [key]: [items], ...tail}` byte for byte as JSON.stringify(doc,
 * null, 2) writes it, `yaml` the same document, `jsonl` and `name` one line an item. `tail` is
 * what is known only at the end (totals).
 */
export class ItemStream<T> {
  private pending = '';
  private count = 0;
  private readonly yaml = new YamlItems();

  constructor(
    private readonly out: Output,
    private readonly format: StreamedFormat,
    private readonly p: { head: Record<string, unknown>; key: string; name(item: T): string },
  ) {
    if (format === 'json')
      this.write(
        `{${Object.entries(p.head).map(jsonField).join(',')}${Object.keys(p.head).length > 0 ? ',' : ''}\n  ${JSON.stringify(p.key)}: [`,
      );
    if (format === 'yaml' && Object.keys(p.head).length > 0) this.write(plainYaml(p.head));
  }

  add(item: T): void {
    const first = this.count++ === 0;
    switch (this.format) {
      case 'json':
        this.write(`${first ? '' : ','}\n    ${JSON.stringify(item, null, 2).replace(/\n/g, '\n    ')}`);
        break;
      case 'yaml':
        this.write(
          `${first ? `${plainYaml({ [this.p.key]: [] }).replace(/ \[\]\n$/, '\n')}` : ''}${this.yaml.item(item)}`,
        );
        break;
      case 'jsonl':
        this.write(`${JSON.stringify(item)}\n`);
        break;
      case 'name':
        this.write(`${this.p.name(item)}\n`);
    }
  }

  end(tail: Record<string, unknown>): void {
    if (this.format === 'json')
      this.write(
        `${this.count === 0 ? ']' : '\n  ]'}${Object.entries(tail)
          .map((e) => `,${jsonField(e)}`)
          .join('')}\n}\n`,
      );
    if (this.format === 'yaml')
      this.write(
        `${this.count === 0 ? plainYaml({ [this.p.key]: [] }) : ''}${Object.keys(tail).length > 0 ? plainYaml(tail) : ''}`,
      );
    this.flush();
  }

  private write(text: string): void {
    this.pending += text;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  /** Writes out what is gathered: at the end, and whenever what came so far should be seen. */
  flush(): void {
    if (this.pending !== '') this.out.data(this.pending);
    this.pending = '';
  }
}

/** `"key": value` as a field of an object JSON.stringify(…, null, 2) writes at the top level. */
const jsonField = ([k, v]: [string, unknown]) =>
  `\n  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replace(/\n/g, '\n  ')}`;

/**
 * Items of a YAML list, two spaces in, as plainYaml writes them (but for a string with line
 * breaks: double-quoted on one line, not a block). The yaml library takes ~0.3 ms an item, most
 * of a 200,000-event listing's time; an item whose fields are scalars or lists of scalars is laid
 * out here, each string written by the library once and remembered (the same verbs, users and
 * rules come back all the time). Anything else goes to the library whole.
 */
class YamlItems {
  private readonly scalars = new Map<string, string>();

  item(item: unknown): string {
    const flat =
      isRecord(item) &&
      Object.keys(item).length > 0 &&
      Object.values(item).every((v) => isScalar(v) || (Array.isArray(v) && v.every(isScalar)));
    if (!flat) return plainYaml([item]).replace(/^(?=.)/gm, '  ');
    return Object.entries(item)
      .map(([k, v], i) => {
        const key = `${i === 0 ? '  - ' : '    '}${this.scalar(k)}:`;
        if (!Array.isArray(v)) return `${key} ${this.scalar(v)}\n`;
        return v.length === 0 ? `${key} []\n` : `${key}\n${v.map((x) => `      - ${this.scalar(x)}\n`).join('')}`;
      })
      .join('');
  }

  private scalar(v: unknown): string {
    if (v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return String(v);
    if (typeof v !== 'string') return plainYaml(v).replace(/\n$/, '');
    let text = this.scalars.get(v);
    if (text === undefined) {
      text = plainYaml(v).replace(/\n$/, '');
      // A string the library would write as a block (it has line breaks) is written quoted, on one line.
      if (text.includes('\n')) text = JSON.stringify(v);
      if (this.scalars.size >= 10_000) this.scalars.clear();
      this.scalars.set(v, text);
    }
    return text;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
