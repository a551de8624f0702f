/**
 * One suggested rule against the input: what it matches (by the policy engine itself), the bytes
 * it removes, and the requests it must not match. A rule that matches a protected request of the
 * input, would log some request more than the base policy does, or would lower a protected request
 * outside the input (suggestProof.ts), is narrowed, one dimension at a time, keeping the narrowing
 * that removes the most bytes, until it does none of these; then it is trimmed to what it cuts. Pure.
 */
import { levelRank } from './model.js';
import { type PolicyRule, PolicyEvaluator, type RequestAttributes } from './policyEngine.js';
import type { ProtectedProof } from './suggestProof.js';
import { nameable } from './suggestScope.js';
import { blankRule, type CutLevel, type TrafficClass } from './suggestTraffic.js';

/** A suggested rule: a PolicyRule at a cut level whose lists are sorted and hold no resourceNames. */
export interface RuleShape {
  level: CutLevel;
  users: string[];
  userGroups: string[];
  verbs: string[];
  /** By API group, each with its resources ("pods", "pods/log"). */
  resources: { group: string; resources: string[] }[];
  namespaces: string[];
  nonResourceURLs: string[];
}

const VERB_ORDER = ['get', 'list', 'watch', 'head'];
const byVerb = (a: string, b: string) => VERB_ORDER.indexOf(a) - VERB_ORDER.indexOf(b) || (a < b ? -1 : a > b ? 1 : 0);
const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

export function toPolicyRule(s: RuleShape): PolicyRule {
  return {
    ...blankRule(s.level),
    users: s.users,
    userGroups: s.userGroups,
    verbs: s.verbs,
    resources: s.resources.map((r) => ({ group: r.group, resources: r.resources, resourceNames: [] })),
    namespaces: s.namespaces,
    nonResourceURLs: s.nonResourceURLs,
  };
}

/** A shape with its lists in canonical order, so equal rules print alike. */
export function shape(s: RuleShape): RuleShape {
  const groups = new Map<string, Set<string>>();
  for (const r of s.resources)
    for (const res of r.resources) (groups.get(r.group) ?? groups.set(r.group, new Set()).get(r.group)!).add(res);
  return {
    level: s.level,
    users: sorted(s.users),
    userGroups: sorted(s.userGroups),
    verbs: [...new Set(s.verbs)].sort(byVerb),
    resources: [...groups.keys()].sort().map((group) => ({ group, resources: sorted(groups.get(group)!) })),
    namespaces: sorted(s.namespaces),
    nonResourceURLs: sorted(s.nonResourceURLs),
  };
}

/** "resource" or "resource/subresource", as rules name what a request is about. */
export const combinedResource = (a: RequestAttributes) =>
  a.subresource !== '' ? `${a.resource}/${a.subresource}` : a.resource;

/** Whether `rule` matches the request, by the engine's own matching. */
export function ruleMatches(rule: PolicyRule, a: RequestAttributes): boolean {
  return new PolicyEvaluator({ rules: [rule], omitStages: [], omitManagedFields: false }).evaluate(a).rule === 0;
}

export interface Assessment {
  shape: RuleShape;
  rule: PolicyRule;
  /** The classes it matches and may: each logged no more than under the base policy. */
  covered: TrafficClass[];
  /** The classes it matches and must not: protected, or logged more than under the base policy. */
  conflicts: TrafficClass[];
  /** Bytes the base policy writes for `covered`, less what this rule writes for them. */
  saved: number;
}

/** Whether the class may take `level` in place of its base decision, and the bytes that saves. */
function cut(c: TrafficClass, level: CutLevel): number | null {
  const after = c.at[level];
  if (c.protectedBy !== null || after === undefined || levelRank(level) > levelRank(c.base.level)) return null;
  const before = c.tally.policy;
  if (after.policy.bytes > before.bytes || after.policy.events > before.events) return null;
  return before.bytes - after.policy.bytes;
}

/** What the rule does to `classes` (those no earlier suggested rule matches). */
export function assess(s: RuleShape, classes: readonly TrafficClass[]): Assessment {
  const rule = toPolicyRule(s);
  const evaluator = new PolicyEvaluator({ rules: [rule], omitStages: [], omitManagedFields: false });
  const a: Assessment = { shape: s, rule, covered: [], conflicts: [], saved: 0 };
  for (const c of classes) {
    if (evaluator.evaluate(c.attrs).rule !== 0) continue;
    const saved = cut(c, s.level);
    if (saved === null) a.conflicts.push(c);
    else {
      a.covered.push(c);
      a.saved += saved;
    }
  }
  return a;
}

const without = (values: readonly string[], v: string) => values.filter((x) => x !== v);
/** A rule listing more namespaces or users than this is no longer a narrow one. */
const MAX_LISTED = 20;
const listable = (values: readonly string[]) => (new Set(values).size <= MAX_LISTED ? values : []);

/**
 * The ways to narrow `a`'s rule so that it no longer matches `pa`, each a smaller rule: without
 * pa's verb, resource, namespace, user or URL pattern, or limited to the namespaces or users of
 * what it covers (when they are few). Against a request without a user, only the latter, or the
 * groups all it covers are in: any narrower shape still matches such requests. A narrowing that
 * would empty a list (which in a rule means "all") is none.
 */
function narrowings(a: Assessment, pa: RequestAttributes): RuleShape[] {
  const s = a.shape;
  // Lists taken from what the rule covers name only what a rule can carry.
  const named = a.covered.filter((c) => nameable(c.attrs)).map((c) => c.attrs);
  const out: RuleShape[] = [];
  const add = (changed: Partial<RuleShape>, ...lists: (readonly string[])[]) => {
    if (lists.every((l) => l.length > 0)) out.push(shape({ ...s, ...changed }));
  };
  // No "" among users: no authenticator gives it, and a reader would take it for the requests without a user.
  const coveredUsers = listable(named.map((x) => x.user).filter((u) => u !== ''));
  if (pa.noUser === true) {
    if (s.users.length > 0 || s.userGroups.length > 0) return out;
    add({ users: [...coveredUsers] }, coveredUsers);
    // A request without a user is in no group; every user is in some (system:authenticated, system:unauthenticated).
    const common =
      named.length === 0
        ? []
        : [
            ...listable(
              named.slice(1).reduce((acc, x) => acc.filter((g) => x.groups.includes(g)), [...named[0]!.groups]),
            ),
          ];
    add({ userGroups: common }, common);
    return out;
  }
  if (s.verbs.includes(pa.verb)) add({ verbs: without(s.verbs, pa.verb) }, without(s.verbs, pa.verb));
  if (pa.resourceRequest && s.resources.length > 0) {
    const res = combinedResource(pa);
    const resources = s.resources
      .map((r) => (r.group === pa.apiGroup ? { group: r.group, resources: without(r.resources, res) } : r))
      .filter((r) => r.resources.length > 0);
    add(
      { resources },
      resources.map((r) => r.group),
    );
  }
  if (pa.resourceRequest) {
    const namespaces = without(
      s.namespaces.length > 0 ? s.namespaces : listable(named.map((x) => x.namespace)),
      pa.namespace,
    );
    add({ namespaces }, namespaces);
  }
  const users = without(s.users.length > 0 ? s.users : coveredUsers, pa.user);
  add({ users, userGroups: [] }, users);
  if (!pa.resourceRequest && s.nonResourceURLs.length > 0) {
    const hit = s.nonResourceURLs.filter((u) => ruleMatches({ ...blankRule('None'), nonResourceURLs: [u] }, pa));
    const kept = s.nonResourceURLs.filter((u) => !hit.includes(u));
    add({ nonResourceURLs: kept }, kept);
    // Or the paths it covers through those patterns, one by one (where a path can be written as
    // itself: a pattern starts with "/" and a "*" in it is a wildcard).
    const paths = named
      .map((x) => x.path)
      .filter(
        (path) =>
          path !== pa.path &&
          path.startsWith('/') &&
          !path.includes('*') &&
          hit.some((u) => ruleMatches({ ...blankRule('None'), nonResourceURLs: [u] }, { ...pa, path })),
      );
    const exact = [...kept, ...paths];
    add({ nonResourceURLs: exact }, exact);
  }
  return out;
}

/** The rule cut down to what it cuts: the verbs, resources, namespaces, users and URLs of the classes it saves bytes on. */
function trimmed(a: Assessment): RuleShape {
  const s = a.shape;
  const cutting = a.covered.filter((c) => cut(c, s.level)! > 0).map((c) => c.attrs);
  const has = (v: string, of: (x: RequestAttributes) => string) => cutting.some((x) => of(x) === v);
  return shape({
    level: s.level,
    users: s.users.filter((u) => has(u, (x) => x.user)),
    userGroups: s.userGroups.filter((g) => cutting.some((x) => x.groups.includes(g))),
    verbs: s.verbs.filter((v) => has(v, (x) => x.verb)),
    resources: s.resources
      .map((r) => ({
        group: r.group,
        resources: r.resources.filter((res) =>
          cutting.some((x) => x.apiGroup === r.group && combinedResource(x) === res),
        ),
      }))
      .filter((r) => r.resources.length > 0),
    namespaces: s.namespaces.filter((n) => has(n, (x) => x.namespace)),
    nonResourceURLs: s.nonResourceURLs.filter((u) =>
      cutting.some((x) => ruleMatches({ ...blankRule('None'), nonResourceURLs: [u] }, x)),
    ),
  });
}

const NARROWING_STEPS = 200;

/** What the rule must not do next: match a class it must not, or lower a protected request; null when it does neither, undefined when that cannot be proved. */
function nextConflict(a: Assessment, proof: ProtectedProof): RequestAttributes | null | undefined {
  if (a.conflicts.length > 0) return a.conflicts[0]!.attrs;
  const r = proof.check(a.rule);
  return r.proved ? null : (r.counterexample ?? undefined);
}

/**
 * The rule narrowed until it matches nothing it must not and lowers no protected request, then
 * trimmed; null when nothing worth a rule is left. Deterministic: conflicts are taken in class
 * order (then the proof's first counterexample) and, among narrowings that remove as many bytes,
 * the first (verb, resource, namespace, user, URL) wins.
 */
export function fitRule(s: RuleShape, classes: readonly TrafficClass[], proof: ProtectedProof): Assessment | null {
  let a = assess(shape(s), classes);
  for (let step = 0; ; step++) {
    const p = nextConflict(a, proof);
    if (p === null) break;
    if (p === undefined || step >= NARROWING_STEPS) return null;
    let best: Assessment | null = null;
    for (const n of narrowings(a, p)) {
      if (ruleMatches(toPolicyRule(n), p)) continue;
      const b = assess(n, classes);
      if (best === null || b.saved > best.saved) best = b;
    }
    if (best === null) return null;
    a = best;
  }
  if (a.saved <= 0) return null;
  // Trimming only takes values out of lists it leaves non-empty: a narrower rule, checked again all the same.
  const t = assess(trimmed(a), classes);
  return nextConflict(t, proof) === null ? t : null;
}
