/**
 * `audit-lab policy test POLICY --file FILE... | --sink NAME [-o json]`: which rule of POLICY each
 * recorded event matches, what the API server would then write, and how much, so a policy can be
 * judged on real traffic before it is deployed. Files are read as `tail --file` reads them
 * (streams/source.ts): gzip, rotated sets in time order, EventList documents, - for stdin.
 */
import { dns1123SubdomainErrors } from '../audit/model.js';
import {
  Judgement,
  type Located,
  type OpenedPolicy,
  type PolicyTestResult,
  openPolicy,
  policyTestHead,
  policyTestTail,
  type Rows,
  savingLine,
  summaryRows,
  verdictDocument,
} from '../audit/judge.js';
import { UserError } from '../errors.js';
import { readSource, refusedExitCode, sourceFor } from '../streams/source.js';
import { sinkStreamFiles } from '../streams/stats.js';
import { escapeText } from '../ui/escape.js';
import { printRefused, shortStage } from '../ui/format.js';
import { ItemStream } from '../ui/printers.js';
import { type Column, fitColumns, fixedRow, tableLines } from '../ui/table.js';
import { wrapLines } from '../ui/width.js';
import { type Common, type Context, pathsFor, type Printed } from './context.js';

// --- options: what policyCommand.ts parses the flags into ---
export interface PolicyTestOptions extends Common, Printed {
  policy: string;
  /** Audit log files (--file, and --events, its older name); '-' is stdin. */
  files: string[];
  sink?: string;
  /** The table with a row per event before the summary (-o wide always has them). */
  perEvent: boolean;
}
// --- end options ---

/** The events to judge: --file (or --events), or what a lab stored for a sink, read the one way `tail` reads them. */
async function eventFiles(o: PolicyTestOptions, ctx: Context) {
  if (o.files.length > 0 && o.sink !== undefined)
    throw new UserError('give either --file FILE or --sink NAME, not both');
  if (o.files.length > 0) {
    const { source, reading } = await sourceFor({
      files: o.files,
      sinks: [],
      paths: pathsFor(ctx, o.name),
      cwd: ctx.io.cwd,
      stdin: ctx.io.stdin,
    });
    return { source, label: reading.join(', '), several: reading.length > 1 };
  }
  if (o.sink !== undefined) {
    if (dns1123SubdomainErrors(o.sink).length > 0)
      throw new UserError(`--sink ${JSON.stringify(o.sink)} is not a sink name`, 'see `audit-lab sink list`');
    const paths = pathsFor(ctx, o.name);
    const files = await sinkStreamFiles(paths.streamsDir, o.sink);
    if (files.length === 0) {
      throw new UserError(
        `no events stored for sink ${JSON.stringify(o.sink)} of lab ${JSON.stringify(o.name)} (looked in ${paths.streamsDir})`,
        'see `audit-lab sink list`, or give --file FILE',
      );
    }
    const { source } = await sourceFor({ files: [], sinks: [o.sink], paths, cwd: ctx.io.cwd });
    return {
      source,
      label: `sink ${o.sink} (${files.length} file${files.length === 1 ? '' : 's'})`,
      several: files.length > 1,
    };
  }
  throw new UserError(
    'give the events to test the policy on: --file FILE (an audit log, as --audit-log-path writes it) or --sink NAME',
    'e.g. audit-lab policy test preset:recommended --sink default',
  );
}

const table = (t: Rows) => tableLines(t.rows, t.right).join('\n');

export async function policyTest(o: PolicyTestOptions, ctx: Context): Promise<number> {
  if (o.perEvent && !(o.output === 'table' || o.output === 'wide'))
    throw new UserError(`--per-event is for the table: -o ${o.output} lists every event already`);
  const opened = await openPolicy(o.policy, ctx.io.cwd);
  const judgement = new Judgement(opened);
  const { source, label, several } = await eventFiles(o, ctx);
  const print = verdictPrinter(o, ctx, opened, label, several);
  const query = { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 0 };
  const skipped = await readSource(source, query, (events) => {
    for (const e of events) print.add(judgement.add(e.event, Buffer.byteLength(e.text, 'utf8'), e.file, e.lineNo));
    return print.batchDone();
  });
  const r = judgement.result(skipped.lines, skipped.count);
  print.end(r);
  // Lines that are not events: listed on stderr (exit 2) once the rest is judged and printed.
  printRefused(ctx.out, skipped);
  return refusedExitCode(skipped);
}

interface VerdictPrinter {
  add(v: Located): void;
  /** A batch of events is judged: what it printed goes out, and reading waits for a slow reader of stdout. */
  batchDone(): Promise<void>;
  end(r: PolicyTestResult): void;
}

/** Prints each verdict as it is made (so memory does not grow with the input), and the totals at the end. */
function verdictPrinter(
  o: PolicyTestOptions,
  ctx: Context,
  opened: OpenedPolicy,
  label: string,
  severalFiles: boolean,
): VerdictPrinter {
  if (o.output !== 'table' && o.output !== 'wide') {
    const items = new ItemStream<{ auditID: string }>(ctx.out, o.output, {
      head: policyTestHead(opened.source, label),
      key: 'results',
      name: (d) => `event/${d.auditID}`,
    });
    return {
      add: (v) => items.add(verdictDocument(v, opened.descriptions)),
      batchDone: () => {
        items.flush();
        return ctx.out.drained();
      },
      end: (r) => items.end(policyTestTail(r)),
    };
  }
  const wide = o.output === 'wide';
  const tty = ctx.io.stdout.isTTY === true;
  const rows =
    wide || o.perEvent ? verdictColumns(opened.descriptions, { wide, severalFiles, width: ctx.out.width }) : undefined;
  let events = 0;
  let batch: string[] = [];
  return {
    add: (v) => {
      if (rows === undefined) return;
      if (events++ === 0)
        ctx.out.line(
          ctx.out.style.bold(
            fixedRow(
              rows.columns,
              rows.columns.map((c) => c.name),
              !wide,
            ),
          ),
        );
      batch.push(fixedRow(rows.columns, rows.cells(v), !wide));
    },
    batchDone: () => {
      if (batch.length > 0) ctx.out.data(`${batch.join('\n')}\n`);
      batch = [];
      return ctx.out.drained();
    },
    end: (r) => {
      printSummary(ctx, r, label, rows !== undefined && events > 0);
      if (rows === undefined && tty)
        ctx.out.note(
          'one row per event: --per-event (fitted to this terminal), -o wide (every field whole), -o jsonl (for a program)',
        );
    },
  };
}

function printSummary(ctx: Context, r: PolicyTestResult, label: string, afterRows: boolean): void {
  const { tally } = r;
  const n = r.refusedCount;
  const events = tally.captured.events;
  const wrapped = (text: string) => ctx.out.line(wrapLines(text, ctx.out.width));
  wrapped(
    `${afterRows ? '\n' : ''}policy ${escapeText(r.source)} on ${escapeText(label)}: ${events} event${events === 1 ? '' : 's'}${n > 0 ? `, ${n} line${n === 1 ? '' : 's'} refused (not audit events)` : ''}`,
  );
  wrapped(
    `\n${ctx.out.style.bold('summary')} (bytes with the policy are what the API server would write: Metadata drops requestObject and responseObject, Request drops responseObject)`,
  );
  ctx.out.line(table(summaryRows(tally)));
  wrapped(`\n${savingLine(tally)}`);
  if (tally.underCaptured > 0) {
    ctx.out.warn(
      `${tally.underCaptured} event${tally.underCaptured === 1 ? ' was' : 's were'} captured at a lower level than this policy gives: their bodies were never recorded, so the byte estimate is a lower bound; capture with \`audit-lab sink create NAME --level RequestResponse\` to measure them`,
    );
  }
}

/** What an event's row shows, in columns fixed before the first row (rows are printed as they come). */
interface VerdictColumns {
  columns: Column[];
  cells(v: Located): string[];
}

const written = (v: Located) =>
  v.logged
    ? v.underCaptured
      ? 'yes, captured lower'
      : 'yes'
    : v.decision.level === 'None'
      ? 'no (None)'
      : 'no (stage omitted)';

/**
 * The per-event table. `wide`: every field whole (the full audit ID, the rule's description, the
 * level and whether it is written), padded to usual widths and never cut. Otherwise fitted to
 * `width` (a terminal's; without one, each column at its cap): the stage's last word, what is
 * written in one WRITES column, the user and the request in what is left, and the rule's number
 * with as much of its description as they leave room for.
 */
function verdictColumns(
  descriptions: readonly string[],
  o: { wide: boolean; severalFiles: boolean; width?: number },
): VerdictColumns {
  const where = (v: Located) => (o.severalFiles ? `${v.file.split('/').pop()}:${v.line}` : String(v.line));
  const rule = (v: Located) =>
    v.decision.rule === null ? '(none)' : `#${v.decision.rule} ${descriptions[v.decision.rule]}`;
  if (o.wide) {
    const widths = [o.severalFiles ? 20 : 5, 36, 16, 8, 24, 40, 40, 15, 0];
    const columns = ['LINE', 'AUDIT ID', 'STAGE', 'VERB', 'USER', 'REQUEST', 'RULE', 'LEVEL', 'WRITTEN'].map(
      (name, i) => ({ name, width: widths[i]! }),
    );
    return {
      columns,
      cells: (v) => [
        where(v),
        v.auditID || '-',
        v.stage || '-',
        v.verb || '-',
        v.user || '-',
        v.request,
        rule(v),
        v.decision.level,
        written(v),
      ],
    };
  }
  const columns = fitColumns(
    [
      { name: 'LINE', min: o.severalFiles ? 12 : 5, cap: o.severalFiles ? 24 : 5 },
      { name: 'STAGE', min: 8, cap: 8 },
      { name: 'VERB', min: 6, cap: 6 },
      { name: 'USER', min: 8, cap: 32 },
      { name: 'REQUEST', min: 12, cap: 48 },
      { name: 'RULE', min: 4, cap: 40, last: true },
      { name: 'WRITES', min: 15, cap: 15 },
    ],
    o.width,
  );
  const writes = (v: Located) =>
    v.logged ? v.decision.level : v.decision.level === 'None' ? 'no (None)' : 'no (omitted)';
  // A file's name is cut from its start: the line number, at its end, is what finds the event.
  const place = (v: Located) => {
    const text = where(v);
    const w = columns[0]!.width;
    return [...text].length > w ? `…${[...text].slice(1 - w).join('')}` : text;
  };
  return {
    columns,
    cells: (v) => [place(v), shortStage(v.stage) || '-', v.verb || '-', v.user || '-', v.request, rule(v), writes(v)],
  };
}
