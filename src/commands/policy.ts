/**
 * `audit-lab policy test POLICY --events FILE | --sink NAME [-o json]`: which rule of POLICY each
 * recorded event matches, what the API server would then write, and how much, so a policy can be
 * judged on real traffic before it is deployed.
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { dns1123SubdomainErrors, isObject, LEVELS } from '../audit/model.js';
import { PolicyEvaluator } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { addToTally, type Count, describeRule, type EventVerdict, judge, newTally, type Tally } from '../audit/verdict.js';
import { readPolicySource } from '../audit/presets.js';
import { UserError } from '../errors.js';
import { sinkStreamFiles } from '../streams/stats.js';
import { escapeText } from '../ui/escape.js';
import { tableLines } from '../ui/table.js';
import { type Context, pathsFor } from './context.js';
import type { PolicyTestOptions } from './options.js';

interface Located extends EventVerdict {
  file: string;
  line: number;
}

async function eventFiles(o: PolicyTestOptions, ctx: Context): Promise<{ files: string[]; label: string }> {
  if (o.events !== undefined && o.sink !== undefined) {
    throw new UserError('give either --events FILE or --sink NAME, not both');
  }
  if (o.events !== undefined) return { files: [resolve(ctx.io.cwd, o.events)], label: o.events };
  if (o.sink !== undefined) {
    if (dns1123SubdomainErrors(o.sink).length > 0) throw new UserError(`--sink ${JSON.stringify(o.sink)} is not a sink name`, 'see `audit-lab sink list`');
    const dir = pathsFor(ctx, o.name).streamsDir;
    const files = await sinkStreamFiles(dir, o.sink);
    if (files.length === 0) {
      throw new UserError(`no events stored for sink ${JSON.stringify(o.sink)} of lab ${JSON.stringify(o.name)} (looked in ${dir})`, 'see `audit-lab sink list`, or give --events FILE');
    }
    return { files, label: `sink ${o.sink} (${files.length} file${files.length === 1 ? '' : 's'})` };
  }
  throw new UserError('give the events to test the policy on: --events FILE (one JSON audit event per line) or --sink NAME', 'e.g. audit-lab policy test preset:recommended --sink default');
}


async function judgeFile(file: string, shown: string, evaluator: PolicyEvaluator, onVerdict: (v: Located) => void): Promise<void> {
  const input = createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((ok, fail) => {
    input.once('open', () => ok());
    input.once('error', fail);
  });
  try {
    await opened;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read events ${shown}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new UserError(`${shown}:${n}: not a JSON audit event (${(err as Error).message})`, 'events are one audit.k8s.io/v1 Event as JSON per line, as --audit-log-path writes them');
    }
    if (!isObject(raw)) throw new UserError(`${shown}:${n}: not a JSON audit event (a JSON ${Array.isArray(raw) ? 'array' : typeof raw})`);
    // An EventList (what a webhook receives) stands for its items.
    const events = raw.kind === 'EventList' && Array.isArray(raw.items) ? raw.items.filter(isObject) : [raw];
    if (raw.kind !== undefined && raw.kind !== 'Event' && raw.kind !== 'EventList') {
      throw new UserError(`${shown}:${n}: kind ${JSON.stringify(raw.kind)} is not an audit Event`);
    }
    const bytes = events.length === 1 ? Buffer.byteLength(text, 'utf8') : -1;
    for (const ev of events) {
      const size = bytes >= 0 ? bytes : Buffer.byteLength(JSON.stringify(ev), 'utf8');
      onVerdict({ ...judge(evaluator, ev, size), file: shown, line: n });
    }
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}


const cut = (s: string, max: number) => ([...s].length > max ? `${[...s].slice(0, max - 1).join('')}…` : s);

function percent(after: number, before: number): string {
  if (before === 0) return '';
  const p = Math.round(((after - before) / before) * 100);
  return ` (${p > 0 ? '+' : ''}${p}%)`;
}

function summaryTable(t: Tally): string {
  const cell = (c: Count | undefined) => [String(c?.events ?? 0), formatBytes(c?.bytes ?? 0)];
  const rows: string[][] = [['LEVEL', 'CAPTURED', 'BYTES', 'WITH POLICY', 'BYTES']];
  for (const level of LEVELS) {
    if (level === 'None') continue;
    rows.push([level, ...cell(t.captured.byLevel[level]), ...cell(t.policy.byLevel[level])]);
  }
  const other = Object.entries(t.captured.byLevel).filter(([l]) => !(LEVELS as readonly string[]).includes(l) || l === 'None');
  for (const [l, c] of other) rows.push([l, ...cell(c), '-', '-']);
  rows.push(['None (not written)', '-', '-', String(t.policy.droppedNone), '-']);
  rows.push(['stage omitted', '-', '-', String(t.policy.droppedStage), '-']);
  rows.push(['total written', ...cell(t.captured), ...cell(t.policy)]);
  return tableLines(rows, new Set([1, 2, 3, 4])).join('\n');
}

export async function policyTest(o: PolicyTestOptions, ctx: Context): Promise<number> {
  const { source, text } = await readPolicySource(o.policy, ctx.io.cwd);
  const policy = loadPolicy(text, source);
  const evaluator = new PolicyEvaluator(policy);
  const { files, label } = await eventFiles(o, ctx);

  const verdicts: Located[] = [];
  const tally = newTally();
  for (const file of files) {
    const shown = o.events !== undefined ? o.events : file;
    await judgeFile(file, shown, evaluator, (v) => {
      verdicts.push(v);
      addToTally(tally, v);
    });
  }
  const descriptions = policy.rules.map(describeRule);

  if (o.output === 'json') {
    const events = verdicts.map((v) => ({
      file: v.file,
      line: v.line,
      auditID: v.auditID,
      stage: v.stage,
      verb: v.verb,
      user: v.user,
      request: v.request,
      capturedLevel: v.capturedLevel,
      rule: v.decision.rule,
      ruleDescription: v.decision.rule === null ? null : descriptions[v.decision.rule],
      level: v.decision.level,
      omitStages: v.decision.omitStages,
      omitted: v.omitted,
      omitManagedFields: v.decision.omitManagedFields,
      written: v.logged,
      capturedBytes: v.capturedBytes,
      estimatedBytes: v.estimatedBytes,
    }));
    ctx.out.data(`${JSON.stringify({ policy: source, events: label, results: events, summary: tally }, null, 2)}\n`);
    return 0;
  }

  const st = ctx.out.style;
  const rows: string[][] = [['LINE', 'AUDIT ID', 'STAGE', 'VERB', 'USER', 'REQUEST', 'RULE', 'LEVEL', 'WRITTEN']];
  for (const v of verdicts) {
    const d = v.decision;
    rows.push([
      files.length > 1 ? `${v.file.split('/').pop()}:${v.line}` : String(v.line),
      v.auditID.slice(0, 8) || '-',
      v.stage || '-',
      v.verb || '-',
      cut(v.user || '-', 32),
      cut(v.request, 48),
      d.rule === null ? '(none)' : cut(`#${d.rule} ${descriptions[d.rule]}`, 48),
      d.level,
      v.logged ? (v.underCaptured ? 'yes, captured lower' : 'yes') : d.level === 'None' ? 'no (None)' : 'no (stage omitted)',
    ]);
  }
  ctx.out.line(`policy ${escapeText(source)} on ${escapeText(label)}: ${verdicts.length} event${verdicts.length === 1 ? '' : 's'}`);
  if (verdicts.length > 0) ctx.out.line(`\n${tableLines(rows).join('\n')}`);
  ctx.out.line(`\n${st.bold('summary')} (bytes with the policy are what the API server would write: Metadata drops requestObject and responseObject, Request drops responseObject)`);
  ctx.out.line(summaryTable(tally));
  ctx.out.line(
    `\n${tally.policy.events} of ${tally.captured.events} events would be written, ${formatBytes(tally.policy.bytes)} instead of ${formatBytes(tally.captured.bytes)}${percent(tally.policy.bytes, tally.captured.bytes)}`,
  );
  if (tally.underCaptured > 0) {
    ctx.out.warn(
      `${tally.underCaptured} event${tally.underCaptured === 1 ? ' was' : 's were'} captured at a lower level than this policy gives: their bodies were never recorded, so the byte estimate is a lower bound; capture with \`audit-lab sink create NAME --level RequestResponse\` to measure them`,
    );
  }
  return 0;
}
