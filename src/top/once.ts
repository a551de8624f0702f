/**
 * `top` off a terminal, or with --no-follow: what is stored (or the last window of it) read once,
 * then one table sorted by rate, or -o json / -o jsonl for scripts.
 */
import type { Skipped } from '../streams/events.js';
import type { ReadEvent } from '../streams/merge.js';
import type { Output } from '../ui/output.js';
import { printObjects } from '../ui/printers.js';
import { formatBytes, formatRate, sourceLabel, topTableLines } from '../ui/topView.js';
import type { GroupTable } from './groups.js';
import type { GroupKey } from './keys.js';
import { buildReport, groupObject, reportDocument } from './report.js';
import { formatSeconds, type Window } from './window.js';

export type TopFormat = 'table' | 'json' | 'jsonl';

export interface OnceOptions {
  table: GroupTable;
  keys: readonly GroupKey[];
  /** Only the last window of event time, up to the newest event. */
  window: Window | undefined;
  output: TopFormat;
  /** At most this many groups (the busiest). */
  limit: number | undefined;
  /** A terminal's width: the table is fitted to it, with sparklines, and notes go to stderr. */
  width: number | undefined;
  /** What was read, for -o json: { sinks: [...] } or { files: [...] }, and for notes. */
  source: Record<string, readonly string[]>;
}

/** Reads everything stored, handing each batch to `show`. */
export type StoredRead = (show: (events: ReadEvent[]) => void) => Promise<Skipped>;

export async function printOnce(o: OnceOptions, out: Output, read: StoredRead): Promise<Skipped> {
  const { table, keys } = o;
  const skipped = await read((events) => {
    for (const r of events) table.add(r);
  });
  const terminal = o.width !== undefined;
  const report = buildReport(table, {
    end: table.last,
    window: o.window,
    windowTotals: true,
    sort: { column: 'rate', reverse: false },
    limit: o.limit,
    sparkline: terminal && o.output === 'table',
  });
  const folded = table.other !== undefined;
  printObjects(
    out,
    o.output,
    report.rows.map((r) => groupObject(r, keys)),
    {
      document: reportDocument(report, { keys, source: o.source, skipped, cap: table.cap, folded }),
      name: () => '',
      empty: `no events in ${sourceLabel(o.source)}${o.window !== undefined ? ` in the last ${formatSeconds(o.window.seconds)}` : ''}`,
      table: () => {
        for (const line of topTableLines(report.rows, {
          keys,
          style: out.style,
          width: o.width,
          spark: terminal,
          sortedBy: 'rate',
        }))
          out.line(line);
        const t = report.totals;
        const over =
          report.window !== undefined
            ? `the last ${formatSeconds(report.window.seconds)}`
            : report.span !== undefined
              ? formatSeconds(report.span.seconds)
              : 'no time';
        if (terminal)
          out.note(
            `${t.groups} groups, ${t.events} events over ${over}: ${formatRate(t.eventsPerSecond)} events/s, ${formatBytes(t.bytesPerSecond)}/s`,
          );
        if (report.hidden > 0)
          out.info(`${report.hidden} more ${report.hidden === 1 ? 'group' : 'groups'} not shown (--limit N shows N)`);
      },
    },
  );
  if (folded) out.warn(`more than ${table.cap} groups: the events of further keys are counted together as (other)`);
  return skipped;
}
