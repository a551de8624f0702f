/**
 * The UI's views that count or judge what they read: `top`'s groups with rates over time
 * (top/groups.ts and top/report.ts, as `top --no-follow -o json` computes them), and a policy's
 * verdict on each event with `policy test`'s totals (audit/judge.ts), the policy being a preset,
 * a file, or what `policy suggest` makes of the same events.
 */
import { describeRule } from '../audit/verdict.js';
import { eventTime, parseDurationMicros } from '../audit/filter.js';
import { Judgement, type OpenedPolicy, openPolicy } from '../audit/judge.js';
import { PolicyEvaluator } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { readPolicySource } from '../audit/presets.js';
import { suggest } from '../audit/suggest.js';
import { Traffic } from '../audit/suggestTraffic.js';
import { UserError } from '../errors.js';
import { readSource } from '../streams/source.js';
import { GroupTable, groupValues } from '../top/groups.js';
import { DEFAULT_GROUP_KEYS, GROUP_KEYS, type GroupKey } from '../top/keys.js';
import { buildReport, groupObject } from '../top/report.js';
import { SECOND } from '../top/window.js';
import { type ApiSource, itemOf, pageParams, readPage, scanFor } from './scan.js';

/** Groups a chart draws a series for: the busiest. */
const SERIES_GROUPS = 10;
/** Keys whose buckets are counted while reading (the busiest are known only at the end). */
const SERIES_KEYS_KEPT = 2000;
/** Points of a series at most: a wider bucket is taken when the span needs more. */
const MAX_BUCKETS = 2000;

function byParam(params: URLSearchParams): GroupKey[] {
  const asked = params
    .getAll('by')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== '');
  if (asked.length === 0) return [...DEFAULT_GROUP_KEYS];
  const bad = asked.find((k) => !(GROUP_KEYS as readonly string[]).includes(k));
  if (bad !== undefined) throw new UserError(`by ${JSON.stringify(bad)} names no key`, `use ${GROUP_KEYS.join(', ')}`);
  return [...new Set(asked)] as GroupKey[];
}

function bucketParam(params: URLSearchParams): number {
  const text = params.get('bucket') ?? '10s';
  const micros = parseDurationMicros(text, { days: false });
  if (micros === undefined || micros < SECOND)
    throw new UserError(`bucket ${JSON.stringify(text)} is not a duration of a second or more`, 'e.g. bucket=10s');
  return micros;
}

/** Events per bucket of event time, per group key (JSON of its values), for the first keys met. */
class Buckets {
  readonly counts = new Map<string, Map<number, number>>();

  constructor(
    private readonly keys: readonly GroupKey[],
    private readonly width: number,
  ) {}

  add(r: { event: Parameters<typeof groupValues>[1]; sink: string }, time: number | undefined): void {
    if (time === undefined) return;
    const key = JSON.stringify(groupValues(this.keys, r.event, r.sink).map((v) => v ?? null));
    const m = this.counts.get(key) ?? new Map<number, number>();
    if (!this.counts.has(key)) {
      if (this.counts.size >= SERIES_KEYS_KEPT) return;
      this.counts.set(key, m);
    }
    const b = Math.floor(time / this.width);
    m.set(b, (m.get(b) ?? 0) + 1);
  }

  /** Seconds of each point, and each key's events per point, `merge` buckets to a point. */
  series(first: number | undefined, last: number | undefined, keys: readonly string[]) {
    if (first === undefined || last === undefined) return { t: [], groups: [] };
    const from = Math.floor(first / this.width);
    const span = Math.floor(last / this.width) - from + 1;
    const merge = Math.ceil(span / MAX_BUCKETS);
    const points = Math.ceil(span / merge);
    const t = Array.from({ length: points }, (_, i) => ((from + i * merge) * this.width) / SECOND);
    const groups = keys.map((k) => {
      const events = new Array<number>(points).fill(0);
      for (const [b, n] of this.counts.get(k) ?? []) events[Math.floor((b - from) / merge)]! += n;
      return { key: k, events };
    });
    return { t, groups };
  }
}

/** `/api/top`: the groups as `top --no-follow -o json` lists them, and the busiest ones' events over time. */
export async function topView(s: ApiSource, params: URLSearchParams): Promise<unknown> {
  const keys = byParam(params);
  const width = bucketParam(params);
  const scan = await scanFor(s, params, { eachSinkCopy: keys.includes('sink') });
  const table = new GroupTable({ keys, sparkline: false });
  const buckets = new Buckets(keys, width);
  const skipped = await readSource(scan.source, scan.query, (events) => {
    for (const r of events) {
      table.add(r);
      buckets.add(r, eventTime(r.event));
    }
  });
  const report = buildReport(table, {
    end: table.last,
    window: undefined,
    windowTotals: true,
    sort: { column: 'rate', reverse: false },
    sparkline: false,
  });
  const rows = report.rows.map((r) => groupObject(r, keys));
  const busiest = [...report.rows]
    .filter((r) => !r.other)
    .sort((a, b) => b.events - a.events)
    .slice(0, SERIES_GROUPS)
    .map((r) => JSON.stringify(r.values.map((v) => v ?? null)));
  const series = buckets.series(table.first, table.last, busiest);
  return {
    by: keys,
    rows,
    series: {
      t: series.t,
      groups: series.groups.map((g) => ({ key: keyObject(keys, g.key), events: g.events })),
    },
    totals: report.totals,
    refused: skipped.count,
  };
}

const keyObject = (keys: readonly GroupKey[], json: string) => {
  const values = JSON.parse(json) as unknown[];
  return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? null]));
};

/** `policy=suggest`: what `policy suggest` makes of the same events (from `from`, preset:recommended by default). */
async function suggested(s: ApiSource, params: URLSearchParams): Promise<OpenedPolicy> {
  const base = await readPolicySource(params.get('from') ?? 'preset:recommended', s.cwd);
  const traffic = new Traffic(loadPolicy(base.text, base.source));
  const scan = await scanFor(s, params);
  await readSource(scan.source, scan.query, (batch) => {
    for (const r of batch) traffic.add(r.event, Buffer.byteLength(r.text, 'utf8'));
  });
  if (traffic.events === 0) throw new UserError('no audit events to suggest a policy from');
  const policy = suggest(traffic).policy;
  return { source: 'suggest', evaluator: new PolicyEvaluator(policy), descriptions: policy.rules.map(describeRule) };
}

/** `/api/policy`: each event's rule and level under the policy, a page of them, and the totals over all. */
export async function policyPage(s: ApiSource, params: URLSearchParams): Promise<unknown> {
  const asked = params.get('policy');
  if (asked === null || asked === '')
    throw new UserError('give a policy: policy=preset:NAME, policy=/path/to/policy.yaml or policy=suggest');
  const page = pageParams(params);
  const opened = asked === 'suggest' ? await suggested(s, params) : await openPolicy(asked, s.cwd);
  const judgement = new Judgement(opened);
  const scan = await scanFor(s, params);
  const files = scan.source.kind === 'files';
  const result = await readPage(scan, page, (r) => {
    const v = judgement.add(r.event, Buffer.byteLength(r.text, 'utf8'), r.file, r.lineNo);
    const rule = v.decision.rule;
    return {
      id: itemOf(r, files).id,
      rule,
      level: v.decision.level,
      description: rule === null ? '' : (opened.descriptions[rule] ?? ''),
    };
  });
  const r = judgement.result([], result.refused);
  return { policy: opened.source, ...result, totals: r.tally, descriptions: opened.descriptions };
}
