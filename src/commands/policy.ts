/**
 * `audit-lab policy test POLICY --file FILE... | --sink NAME [-o json]`: which rule of POLICY each
 * recorded event matches, what the API server would then write, and how much, so a policy can be
 * judged on real traffic before it is deployed. Files are read as `tail --file` reads them
 * (streams/source.ts): gzip, rotated sets in time order, EventList documents, - for stdin.
 */
import { dns1123SubdomainErrors } from '../audit/model.js';
import { Judgement, type PolicyTestResult, openPolicy, policyTestDocument, refusedError, type Rows, savingLine, summaryRows, verdictDocuments, verdictRows } from '../audit/judge.js';
import { UserError } from '../errors.js';
import { readSource, sourceFor } from '../streams/source.js';
import { sinkStreamFiles } from '../streams/stats.js';
import { escapeText } from '../ui/escape.js';
import { printObjects } from '../ui/printers.js';
import { tableLines } from '../ui/table.js';
import { type Context, pathsFor } from './context.js';
import type { PolicyTestOptions } from './options.js';

/** The files to judge: --file (or --events), or a lab sink's stream files, read the same way. */
async function eventFiles(o: PolicyTestOptions, ctx: Context) {
  if (o.files.length > 0 && o.sink !== undefined) throw new UserError('give either --file FILE or --sink NAME, not both');
  if (o.files.length > 0) {
    const { source, reading } = await sourceFor({ files: o.files, sinks: [], paths: pathsFor(ctx, o.name), cwd: ctx.io.cwd, stdin: ctx.io.stdin });
    return { source, label: reading.join(', '), several: reading.length > 1 };
  }
  if (o.sink !== undefined) {
    if (dns1123SubdomainErrors(o.sink).length > 0) throw new UserError(`--sink ${JSON.stringify(o.sink)} is not a sink name`, 'see `audit-lab sink list`');
    const dir = pathsFor(ctx, o.name).streamsDir;
    const files = await sinkStreamFiles(dir, o.sink);
    if (files.length === 0) {
      throw new UserError(`no events stored for sink ${JSON.stringify(o.sink)} of lab ${JSON.stringify(o.name)} (looked in ${dir})`, 'see `audit-lab sink list`, or give --file FILE');
    }
    const source = { kind: 'files' as const, files: files.map((f) => ({ path: f, shown: f, own: true })) };
    return { source, label: `sink ${o.sink} (${files.length} file${files.length === 1 ? '' : 's'})`, several: files.length > 1 };
  }
  throw new UserError('give the events to test the policy on: --file FILE (an audit log, as --audit-log-path writes it) or --sink NAME', 'e.g. audit-lab policy test preset:recommended --sink default');
}

const table = (t: Rows) => tableLines(t.rows, t.right).join('\n');

export async function policyTest(o: PolicyTestOptions, ctx: Context): Promise<number> {
  const judgement = new Judgement(await openPolicy(o.policy, ctx.io.cwd));
  const { source, label, several } = await eventFiles(o, ctx);
  const query = { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 0 };
  const skipped = await readSource(source, query, (events) => {
    for (const e of events) judgement.add(e.event, Buffer.byteLength(e.text, 'utf8'), e.file, e.lineNo);
  });
  const r = judgement.result(skipped.lines, skipped.count);
  const results = verdictDocuments(r);
  printObjects(ctx.out, o.output, results, {
    document: policyTestDocument(r, label, results),
    name: (v) => `event/${v.auditID}`,
    table: (wide) => printVerdicts(ctx, r, label, several, wide),
  });
  // Lines that are not events: listed on stderr (exit 2) once the rest is judged and printed.
  const refused = refusedError(r);
  if (refused) throw refused;
  return 0;
}

function printVerdicts(ctx: Context, r: PolicyTestResult, label: string, severalFiles: boolean, wide: boolean): void {
  const { verdicts, tally } = r;
  const n = r.refusedCount;
  ctx.out.line(`policy ${escapeText(r.source)} on ${escapeText(label)}: ${verdicts.length} event${verdicts.length === 1 ? '' : 's'}${n > 0 ? `, ${n} line${n === 1 ? '' : 's'} refused (not audit events)` : ''}`);
  if (verdicts.length > 0) ctx.out.line(`\n${table(verdictRows(r, severalFiles, wide))}`);
  ctx.out.line(`\n${ctx.out.style.bold('summary')} (bytes with the policy are what the API server would write: Metadata drops requestObject and responseObject, Request drops responseObject)`);
  ctx.out.line(table(summaryRows(tally)));
  ctx.out.line(`\n${savingLine(tally)}`);
  if (tally.underCaptured > 0) {
    ctx.out.warn(
      `${tally.underCaptured} event${tally.underCaptured === 1 ? ' was' : 's were'} captured at a lower level than this policy gives: their bodies were never recorded, so the byte estimate is a lower bound; capture with \`audit-lab sink create NAME --level RequestResponse\` to measure them`,
    );
  }
}
