/**
 * `audit-lab policy suggest` below its flags: from the input's classes of requests (Traffic), the
 * rules to put in front of the base policy, chosen greedily by the bytes they remove, and the
 * before/after tallies, which are sums of `policy test`'s own per-event tallies. Pure and
 * deterministic: the same input gives the same rules in the same order.
 */
import { type Policy, PolicyEvaluator, type PolicyRule } from './policyEngine.js';
import { candidates } from './suggestCandidates.js';
import { ProtectedProof } from './suggestProof.js';
import { type Assessment, fitRule } from './suggestRule.js';
import { type CutLevel, sumTallies, type Traffic, type TrafficClass } from './suggestTraffic.js';
import { describeRule, type Tally } from './verdict.js';

/** At most this many rules are suggested: a policy a person can still read. */
export const MAX_RULES = 12;
/** Without a target, a rule must remove at least this share of the bytes before to be suggested. */
export const MIN_SHARE = 0.01;

export interface SuggestOptions {
  /** Stop once the bytes after are at most this share of the bytes before (0 < target <= 1). */
  target?: number;
  maxRules?: number;
}

export interface SuggestedRule {
  rule: PolicyRule;
  level: CutLevel;
  /** What it matches, in one line (verdict.ts describeRule, as `policy test` shows rules). */
  description: string;
  /** Events of the input it matches that the base policy writes. */
  events: number;
  /** Of those, how many it no longer writes at all. */
  dropped: number;
  /** Bytes it removes from what the base policy writes. */
  bytes: number;
}

export interface Suggestion {
  rules: SuggestedRule[];
  /** The suggested policy: the rules, then the base policy's. */
  policy: Policy;
  /** The input under the base policy and under the suggested one. */
  before: Tally;
  after: Tally;
  target: number | null;
  /** Whether the target is met; null without one. */
  met: boolean | null;
  /** Why no further rule was added. */
  stop: 'target' | 'max-rules' | 'nothing-left';
}

/** Among the candidates, the rule that removes the most bytes; ties go to the first rule in JSON order. */
function best(classes: readonly TrafficClass[], proof: ProtectedProof): Assessment | null {
  let top: { a: Assessment; order: string } | null = null;
  for (const shape of candidates(classes)) {
    const a = fitRule(shape, classes, proof);
    if (a === null) continue;
    const order = JSON.stringify(a.rule);
    if (top === null || a.saved > top.a.saved || (a.saved === top.a.saved && order < top.order)) top = { a, order };
  }
  return top?.a ?? null;
}

/**
 * Checks the suggested policy with the engine, class by class: each covered class gets its rule,
 * every other (protected ones included) exactly the base policy's decision; and each rule against
 * every protected request (suggestProof.ts). A failure is a bug.
 */
function verify(
  policy: Policy,
  chosen: readonly Assessment[],
  classes: readonly TrafficClass[],
  proof: ProtectedProof,
): void {
  for (const a of chosen) {
    if (!proof.check(a.rule).proved)
      throw new Error(`policy suggest: the rule ${describeRule(a.rule)} lowers a protected request`);
  }
  const evaluator = new PolicyEvaluator(policy);
  const ruleOf = new Map<TrafficClass, number>();
  for (const [i, a] of chosen.entries()) for (const c of a.covered) ruleOf.set(c, i);
  for (const c of classes) {
    const got = evaluator.evaluate(c.attrs).rule;
    const want = ruleOf.get(c) ?? (c.base.rule === null ? null : c.base.rule + chosen.length);
    if (got !== want)
      throw new Error(`policy suggest: the suggested policy gives rule ${got} to ${c.key}, expected ${want}`);
  }
}

export function suggest(traffic: Traffic, opts: SuggestOptions = {}): Suggestion {
  const classes = traffic.classes();
  const before = sumTallies(classes.map((c) => c.tally));
  const goal = opts.target === undefined ? null : opts.target * before.policy.bytes;
  const proof = new ProtectedProof(traffic.policy);
  const chosen: Assessment[] = [];
  let remaining = classes;
  let bytes = before.policy.bytes;
  let stop: Suggestion['stop'] = 'nothing-left';
  for (;;) {
    if (goal !== null && bytes <= goal) {
      stop = 'target';
      break;
    }
    if (chosen.length >= (opts.maxRules ?? MAX_RULES)) {
      stop = 'max-rules';
      break;
    }
    const next = best(remaining, proof);
    if (next === null || (goal === null && next.saved < MIN_SHARE * before.policy.bytes)) break;
    chosen.push(next);
    bytes -= next.saved;
    const covered = new Set(next.covered);
    remaining = remaining.filter((c) => !covered.has(c));
  }
  const policy: Policy = { ...traffic.policy, rules: [...chosen.map((a) => a.rule), ...traffic.policy.rules] };
  verify(policy, chosen, classes, proof);
  const cutTo = new Map<TrafficClass, CutLevel>();
  for (const a of chosen) for (const c of a.covered) cutTo.set(c, a.shape.level);
  const after = sumTallies(classes.map((c) => (cutTo.has(c) ? c.at[cutTo.get(c)!]! : c.tally)));
  return {
    rules: chosen.map((a) => ruleFigures(a)),
    policy,
    before,
    after,
    target: opts.target ?? null,
    met: goal === null ? null : after.policy.bytes <= goal,
    stop,
  };
}

function ruleFigures(a: Assessment): SuggestedRule {
  const level = a.shape.level;
  let events = 0;
  let dropped = 0;
  let bytes = 0;
  for (const c of a.covered) {
    const after = c.at[level]!.policy;
    events += c.tally.policy.events;
    dropped += c.tally.policy.events - after.events;
    bytes += c.tally.policy.bytes - after.bytes;
  }
  return { rule: a.rule, level, description: describeRule(a.rule), events, dropped, bytes };
}
