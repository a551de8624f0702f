/**
 * `audit-lab policy test` below its flags: a policy loaded and judged against recorded events, one
 * by one as they are read (streams/source.ts reads them: every line checked as the receiver
 * checks a body), and the result as the JSON and the table rows the command prints.
 */
import { formatBytes } from './bytes.js';
import { LEVELS } from './model.js';
import { PolicyEvaluator } from './policyEngine.js';
import { loadPolicy } from './policyLoader.js';
import { readPolicySource } from './presets.js';
import { addToTally, type Count, describeRule, type EventVerdict, judge, newTally, type Tally } from './verdict.js';

export interface Located extends EventVerdict {
  file: string;
  line: number;
}

/** What is known once every event is judged: each verdict went out as it was made. */
export interface PolicyTestResult {
  /** The policy as named: a path or preset:NAME. */
  source: string;
  /** Each rule in one short line, by index. */
  descriptions: string[];
  /** Lines that are not audit events, never judged: the first ones (the reader keeps a bounded list). */
  refused: Refused[];
  /** How many lines were refused in all. */
  refusedCount: number;
  tally: Tally;
}

/** A line of an events file that is not audit events, with the receiver's reason for refusing it. */
export interface Refused {
  file: string;
  line: number;
  reason: string;
}

/**
 * A policy judging events as they are read: each verdict is handed back to be printed and only
 * counted here, so a log of any length is judged in the memory of one batch.
 */
export class Judgement {
  private readonly tally = newTally();

  constructor(private readonly p: OpenedPolicy) {}

  /** One event, read from `file` at `line`; `lineBytes` is its line's size without the newline. */
  add(event: Record<string, unknown>, lineBytes: number, file: string, line: number): Located {
    const v = { ...judge(this.p.evaluator, event, lineBytes), file, line };
    addToTally(this.tally, v);
    return v;
  }

  result(refused: readonly Refused[], refusedCount: number): PolicyTestResult {
    return {
      source: this.p.source,
      descriptions: this.p.descriptions,
      refused: [...refused],
      refusedCount,
      tally: this.tally,
    };
  }
}

export interface OpenedPolicy {
  source: string;
  evaluator: PolicyEvaluator;
  descriptions: string[];
}

/** The policy named by `policyArg`: a file relative to `cwd`, or preset:NAME. */
export async function openPolicy(policyArg: string, cwd: string): Promise<OpenedPolicy> {
  const { source, text } = await readPolicySource(policyArg, cwd);
  const policy = loadPolicy(text, source);
  return { source, evaluator: new PolicyEvaluator(policy), descriptions: policy.rules.map(describeRule) };
}

/** An event's verdict as `-o json` lists it in `results` and `-o jsonl` prints it. */
export function verdictDocument(v: Located, descriptions: readonly string[]) {
  return {
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
  };
}

/**
 * `-o json`'s document around its `results` (every verdict, streamed between the two): `head`
 * the fields before them, `tail` those known at the end; `label` says where the events came from.
 */
export const policyTestHead = (source: string, label: string) => ({ policy: source, events: label });
export const policyTestTail = (r: PolicyTestResult) => ({
  refused: r.refused,
  refusedCount: r.refusedCount,
  summary: r.tally,
});

function percent(after: number, before: number): string {
  if (before === 0) return '';
  const p = Math.round(((after - before) / before) * 100);
  return ` (${p > 0 ? '+' : ''}${p}%)`;
}

/** A table's rows, the header first; `right` are the columns aligned right. */
export interface Rows {
  rows: string[][];
  right?: ReadonlySet<number>;
}

/** Events and bytes per level, as captured and as the policy would write them. */
export function summaryRows(t: Tally): Rows {
  const cell = (c: Count | undefined) => [String(c?.events ?? 0), formatBytes(c?.bytes ?? 0)];
  const rows: string[][] = [['LEVEL', 'CAPTURED', 'BYTES', 'WITH POLICY', 'BYTES']];
  for (const level of LEVELS) {
    if (level === 'None') continue;
    rows.push([level, ...cell(t.captured.byLevel[level]), ...cell(t.policy.byLevel[level])]);
  }
  const other = Object.entries(t.captured.byLevel).filter(
    ([l]) => !(LEVELS as readonly string[]).includes(l) || l === 'None',
  );
  for (const [l, c] of other) rows.push([l, ...cell(c), '-', '-']);
  rows.push(['None (not written)', '-', '-', String(t.policy.droppedNone), '-']);
  rows.push(['stage omitted', '-', '-', String(t.policy.droppedStage), '-']);
  rows.push(['total written', ...cell(t.captured), ...cell(t.policy)]);
  return { rows, right: new Set([1, 2, 3, 4]) };
}

/** The closing line: how many events would be written, and how many bytes against those captured. */
export function savingLine(t: Tally): string {
  return `${t.policy.events} of ${t.captured.events} events would be written, ${formatBytes(t.policy.bytes)} instead of ${formatBytes(t.captured.bytes)}${percent(t.policy.bytes, t.captured.bytes)}`;
}
