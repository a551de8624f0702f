/**
 * The input of `policy suggest`, folded into classes of requests that look the same to a
 * suggested rule (same user, groups, verb, namespace, resource or URL) and get the same rule of
 * the base policy. Each class keeps its events judged as `policy test` judges them (judge and
 * addToTally, verdict.ts): under the base policy, and, for reads, under a suggested rule at each
 * level it may give. So every figure of a suggestion is a sum of `policy test`'s own tallies, and
 * memory grows with the number of classes, not of events. Pure.
 */
import { isObject, type Level } from './model.js';
import {
  type Decision,
  eventAttributes,
  type Policy,
  PolicyEvaluator,
  type PolicyRule,
  type RequestAttributes,
} from './policyEngine.js';
import { isRead, type ProtectedReason, protectedReason } from './suggestScope.js';
import { addToTally, judge, newTally, type Tally } from './verdict.js';

/** The levels a suggested rule gives: it drops, or keeps only the metadata. */
export type CutLevel = Extract<Level, 'None' | 'Metadata'>;
export const CUT_LEVELS: readonly CutLevel[] = ['None', 'Metadata'];

/** A rule that matches everything, at `level`; the other fields are narrowed by whoever uses it. */
export function blankRule(level: Level): PolicyRule {
  return {
    level,
    users: [],
    userGroups: [],
    verbs: [],
    resources: [],
    namespaces: [],
    nonResourceURLs: [],
    omitStages: [],
    omitManagedFields: null,
  };
}

export interface TrafficClass {
  key: string;
  /** The first request of the class; its name matters to the base policy only, which `base` records. */
  attrs: RequestAttributes;
  /** The base policy's decision for every request of the class. */
  base: Decision;
  /** Why the class must keep its level (the first protected event's reason); null when it may be cut. */
  protectedBy: ProtectedReason | null;
  /** Its events as the base policy would write them. */
  tally: Tally;
  /** Reads only: its events as a suggested rule at that level would write them. */
  at: Partial<Record<CutLevel, Tally>>;
}

function classKey(a: RequestAttributes, rule: number | null): string {
  return JSON.stringify([
    a.user,
    a.noUser === true,
    [...a.groups].sort(),
    a.verb,
    a.resourceRequest,
    a.namespace,
    a.apiGroup,
    a.resource,
    a.subresource,
    a.path,
    rule,
  ]);
}

function responseCode(event: Record<string, unknown>): number | undefined {
  const status = event.responseStatus;
  return isObject(status) && typeof status.code === 'number' ? status.code : undefined;
}

const sameDecision = (a: Decision, b: Decision) =>
  a.level === b.level && a.omitManagedFields === b.omitManagedFields && a.omitStages.join() === b.omitStages.join();

/** Adds every number of `from` into `into`, member by member, as nested as they are. */
function addNumbers(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    if (typeof v === 'number') into[k] = ((into[k] as number | undefined) ?? 0) + v;
    else if (isObject(v)) {
      into[k] ??= {};
      addNumbers(into[k] as Record<string, unknown>, v);
    }
  }
}

/** Tallies added up: the tally of all their events together. */
export function sumTallies(tallies: Iterable<Tally>): Tally {
  const total = newTally();
  for (const t of tallies)
    addNumbers(total as unknown as Record<string, unknown>, t as unknown as Record<string, unknown>);
  return total;
}

export class Traffic {
  readonly base: PolicyEvaluator;
  /** One-rule policies giving each cut level, with the base policy's omitStages and omitManagedFields. */
  private readonly cut: Record<CutLevel, PolicyEvaluator>;
  private readonly byKey = new Map<string, TrafficClass>();
  events = 0;
  /** Protected events by reason (a class is protected by its first; each event counts here). */
  readonly protectedEvents: Record<ProtectedReason, number> = { write: 0, secret: 0, denied: 0, exec: 0 };

  constructor(readonly policy: Policy) {
    this.base = new PolicyEvaluator(policy);
    const alone = (level: CutLevel) => new PolicyEvaluator({ ...policy, rules: [blankRule(level)] });
    this.cut = { None: alone('None'), Metadata: alone('Metadata') };
  }

  /** One event of the input; `lineBytes` is its stored line's size without the newline. */
  add(event: Record<string, unknown>, lineBytes: number): void {
    this.events++;
    const verdict = judge(this.base, event, lineBytes);
    const attrs = eventAttributes(event);
    const key = classKey(attrs, verdict.decision.rule);
    let c = this.byKey.get(key);
    if (c === undefined) {
      c = { key, attrs, base: verdict.decision, protectedBy: null, tally: newTally(), at: {} };
      if (isRead(attrs)) {
        // A cut that decides as the base rule does writes what the base writes: one tally for both.
        for (const level of CUT_LEVELS)
          c.at[level] = sameDecision(this.cut[level].evaluate(attrs), verdict.decision) ? c.tally : newTally();
      }
      this.byKey.set(key, c);
    }
    addToTally(c.tally, verdict);
    const reason = protectedReason(attrs, responseCode(event));
    if (reason !== null) {
      this.protectedEvents[reason]++;
      c.protectedBy ??= reason;
    }
    for (const level of CUT_LEVELS) {
      const t = c.at[level];
      if (t !== undefined && t !== c.tally) addToTally(t, judge(this.cut[level], event, lineBytes));
    }
  }

  /** Every class, in key order: the same input gives the same list, whatever its order. */
  classes(): TrafficClass[] {
    return [...this.byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
