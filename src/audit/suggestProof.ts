/**
 * The promise of `policy suggest` beyond its input: a suggested rule gives no protected request (a
 * write, any access to secrets, exec/attach/portforward/proxy, a request without a user) a lower
 * level than the base policy gives it, whoever makes it, in whatever namespace, whatever its
 * name, group, resource or path. 403s are not covered here: no rule can see a response code
 * (suggestScope.ts).
 *
 * Proved with the engine on finitely many witness requests. Whether a rule matches depends on
 * each field of a request only through the values the rules list (equal to one, in one, starting
 * with one) and through the forms upstream reads as patterns; whether a request is protected,
 * through a few fixed values. So one value for each listed value, one unlisted ("fresh") value,
 * and for URL prefixes the prefix and the prefix followed by a character no listed URL continues
 * it with, stand for every value a field can take: if no witness built from them, taking values
 * from the suggested rule and from every base rule, is lowered, no request is. Pure.
 */
import { type Level, levelRank } from './model.js';
import { type Policy, PolicyEvaluator, type PolicyRule, type RequestAttributes } from './policyEngine.js';
import { CHANNEL_SUBRESOURCES, protectedReason, READ_VERBS, URL_READ_VERBS } from './suggestScope.js';

/** Past this many witnesses a rule is not proved, and so not suggested (no rule of ours comes near). */
const MAX_WITNESSES = 200_000;

export type ProofResult = { proved: true } | { proved: false; counterexample: RequestAttributes | null };

const unique = (values: Iterable<string>) => [...new Set(values)].sort();

/** A value none of `taken` is, for a field: it stands for every value the rules do not list. */
function fresh(taken: Iterable<string>, stem: string): string {
  const t = new Set(taken);
  let v = stem;
  for (let i = 1; t.has(v); i++) v = `${stem}-${i}`;
  return v;
}

/** A character no listed string continues `prefix` with. */
function nextChar(prefix: string, listed: readonly string[]): string {
  const used = new Set(
    listed.filter((s) => s.length > prefix.length && s.startsWith(prefix)).map((s) => s[prefix.length]),
  );
  for (let cp = 0x21; ; cp++) if (!used.has(String.fromCodePoint(cp))) return String.fromCodePoint(cp);
}

/** The (resource, subresource) pairs a listed entry equals: "r/s" is "resource/subresource" wherever the split falls. */
function literalPairs(entry: string): [string, string][] {
  const pairs: [string, string][] = [[entry, '']];
  for (let i = entry.indexOf('/'); i >= 0; i = entry.indexOf('/', i + 1))
    pairs.push([entry.slice(0, i), entry.slice(i + 1)]);
  return pairs;
}

/** The resources and subresources a listed entry names, as itself or through a pattern ("*\/s", "r/*"). */
function entryValues(entry: string): { resources: string[]; subresources: string[] } {
  const pairs = literalPairs(entry);
  const resources = pairs.map((p) => p[0]);
  const subresources = pairs.map((p) => p[1]);
  if (entry.startsWith('*/')) subresources.push(entry.slice(2));
  if (entry.endsWith('/*')) resources.push(entry.slice(0, -2));
  return { resources, subresources };
}

/** Every value each field of a witness takes: what the rules list, what protection turns on, and one fresh value. */
interface Atoms {
  users: string[];
  verbs: string[];
  namespaces: string[];
  apiGroups: string[];
  resources: string[];
  subresources: string[];
  names: string[];
  paths: string[];
  /** Sets of groups, one for each way a request's groups can meet the rules' userGroups lists. */
  groupSets: string[][];
}

function groupSets(rules: readonly PolicyRule[]): string[][] | null {
  const lists = rules.filter((r) => r.userGroups.length > 0).map((r) => new Set(r.userGroups));
  const signature = (set: readonly string[]) => lists.map((l) => (set.some((g) => l.has(g)) ? 1 : 0)).join('');
  const reps = new Map<string, string[]>([[signature([]), []]]);
  for (const g of unique(lists.flatMap((l) => [...l]))) {
    for (const rep of [...reps.values()]) {
      const next = [...rep, g];
      const sig = signature(next);
      if (!reps.has(sig)) reps.set(sig, next);
      if (reps.size > MAX_WITNESSES) return null;
    }
  }
  return [...reps.values()];
}

function pathAtoms(rules: readonly PolicyRule[]): string[] {
  const specs = rules.flatMap((r) => r.nonResourceURLs);
  const listed = unique(['', ...specs, ...specs.filter((s) => s.endsWith('*')).map((s) => s.replace(/\*+$/, ''))]);
  return unique(listed.flatMap((l) => [l, l + nextChar(l, listed)]));
}

function atoms(rules: readonly PolicyRule[]): Atoms | null {
  const sets = groupSets(rules);
  if (sets === null) return null;
  const gr = rules.flatMap((r) => r.resources);
  const parts = gr.flatMap((g) => g.resources).map(entryValues);
  const users = rules.flatMap((r) => r.users);
  const verbs = [...rules.flatMap((r) => r.verbs), ...READ_VERBS, ...URL_READ_VERBS, 'create'];
  const namespaces = ['', ...rules.flatMap((r) => r.namespaces)];
  const apiGroups = ['', ...gr.map((g) => g.group).filter((g) => g !== '*')];
  const resources = ['secrets', ...parts.flatMap((p) => p.resources)];
  const subresources = ['', ...CHANNEL_SUBRESOURCES, ...parts.flatMap((p) => p.subresources)];
  const names = ['', ...gr.flatMap((g) => g.resourceNames)];
  return {
    users: unique([...users, fresh(users, 'audit-lab:witness')]),
    verbs: unique([...verbs, fresh(verbs, 'witness')]),
    namespaces: unique([...namespaces, fresh(namespaces, 'witness')]),
    apiGroups: unique([...apiGroups, fresh(apiGroups, 'witness.audit-lab.invalid')]),
    resources: unique([...resources, fresh(resources, 'witnesses')]),
    subresources: unique([...subresources, fresh(subresources, 'witness')]),
    names: unique([...names, fresh(names, 'witness')]),
    paths: pathAtoms(rules),
    groupSets: sets,
  };
}

type Who = Pick<RequestAttributes, 'user' | 'noUser' | 'groups'>;
type Target = Omit<RequestAttributes, keyof Who | 'verb'>;

/** A policy of one rule: `part`, matching everything else. */
function alone(part: Partial<PolicyRule>): PolicyEvaluator {
  const rule: PolicyRule = {
    level: 'None',
    users: [],
    userGroups: [],
    verbs: [],
    resources: [],
    namespaces: [],
    nonResourceURLs: [],
    omitStages: [],
    omitManagedFields: null,
    ...part,
  };
  return new PolicyEvaluator({ rules: [rule], omitStages: [], omitManagedFields: false });
}

const matches = (e: PolicyEvaluator, a: RequestAttributes) => e.evaluate(a).rule === 0;

/** The witnesses' who, verb and what, each only among the values the rule accepts. */
class Witnesses {
  /** The rule's own values for one concern each: a field is only given values the rule accepts. */
  private readonly whoPart: PolicyEvaluator;
  private readonly resourcePart: PolicyEvaluator;
  private readonly urlPart: PolicyEvaluator;

  constructor(
    private readonly rule: PolicyRule,
    private readonly a: Atoms,
  ) {
    this.whoPart = alone({ users: rule.users, userGroups: rule.userGroups });
    this.resourcePart = alone({ namespaces: rule.namespaces, resources: rule.resources });
    this.urlPart = alone({ nonResourceURLs: rule.nonResourceURLs });
  }

  who(): Who[] {
    const out: Who[] = [{ user: '', noUser: true, groups: [] }];
    for (const user of this.rule.users.length > 0 ? this.rule.users : this.a.users)
      for (const groups of this.a.groupSets) out.push({ user, groups });
    return out.filter((w) => matches(this.whoPart, { ...NON_RESOURCE, ...w, verb: 'get' }));
  }

  verbs(): string[] {
    return this.rule.verbs.length > 0 ? this.rule.verbs : this.a.verbs;
  }

  /** What the requests are about; null when there would be more than MAX_WITNESSES. */
  targets(): Target[] | null {
    const r = this.rule;
    const resourceRule = r.namespaces.length > 0 || r.resources.length > 0;
    const out = resourceRule || r.nonResourceURLs.length === 0 ? this.resourceTargets() : [];
    if (out === null) return null;
    if (!resourceRule) {
      for (const path of this.a.paths)
        if (matches(this.urlPart, { ...NON_RESOURCE, user: '', groups: [], verb: 'get', path }))
          out.push({ ...NON_RESOURCE, path });
    }
    return out;
  }

  /** Resource requests: each group-resource entry of the rule (all of them when it has none) taken apart. */
  private resourceTargets(): Target[] | null {
    const a = this.a;
    const every = a.resources.flatMap((res) => a.subresources.map((sub): [string, string] => [res, sub]));
    const entries =
      this.rule.resources.length > 0 ? this.rule.resources : [{ group: '*', resources: [], resourceNames: [] }];
    const namespaces = this.rule.namespaces.length > 0 ? this.rule.namespaces : a.namespaces;
    const out: Target[] = [];
    for (const g of entries) {
      const pairs = new Map<string, [string, string]>();
      const put = (list: [string, string][]) => {
        for (const p of list) pairs.set(JSON.stringify(p), p);
      };
      if (g.resources.length === 0) put(every);
      for (const entry of g.resources) {
        if (entry === '*') put(every);
        if (entry.startsWith('*/')) put(a.resources.map((res): [string, string] => [res, entry.slice(2)]));
        if (entry.endsWith('/*')) put(a.subresources.map((sub): [string, string] => [entry.slice(0, -2), sub]));
        put(literalPairs(entry));
      }
      const apiGroups = g.group === '*' ? a.apiGroups : [g.group];
      const names = g.resourceNames.length > 0 ? g.resourceNames : a.names;
      if (out.length + apiGroups.length * pairs.size * names.length * namespaces.length > MAX_WITNESSES) return null;
      for (const apiGroup of apiGroups) {
        for (const [resource, subresource] of pairs.values()) {
          for (const name of names) {
            for (const namespace of namespaces)
              out.push({ resourceRequest: true, apiGroup, resource, subresource, name, namespace, path: '' });
          }
        }
      }
    }
    return out.filter((t) => matches(this.resourcePart, { ...t, user: '', groups: [], verb: 'get' }));
  }
}

const NON_RESOURCE: Target = {
  resourceRequest: false,
  namespace: '',
  apiGroup: '',
  resource: '',
  subresource: '',
  name: '',
  path: '',
};

/** Checks suggested rules against a base policy. */
export class ProtectedProof {
  private readonly base: PolicyEvaluator;
  /** Candidates come back round after round, alike: each rule is proved once. */
  private readonly done = new Map<string, ProofResult>();

  constructor(private readonly basePolicy: Policy) {
    this.base = new PolicyEvaluator(basePolicy);
  }

  /**
   * Whether `rule`, put in front of the base policy, gives every protected request at least the
   * base policy's level; if not, a protected request it lowers (null: too many witnesses to tell).
   */
  check(rule: PolicyRule): ProofResult {
    const key = JSON.stringify(rule);
    let result = this.done.get(key);
    if (result === undefined) {
      result = this.prove(rule);
      this.done.set(key, result);
    }
    return result;
  }

  private prove(rule: PolicyRule): ProofResult {
    const a = atoms([rule, ...this.basePolicy.rules]);
    if (a === null) return { proved: false, counterexample: null };
    const w = new Witnesses(rule, a);
    const who = w.who();
    const verbs = w.verbs();
    const targets = w.targets();
    if (targets === null || who.length * verbs.length * targets.length > MAX_WITNESSES)
      return { proved: false, counterexample: null };
    const only = alone(rule);
    const level = levelRank(rule.level as Level);
    // Most witnesses are a named user's read of something unprotected: skipped before they are built.
    const named = { user: 'audit-lab:witness', groups: [] };
    const protectedTarget = targets.map((t) => protectedReason({ ...t, ...named, verb: 'get' }, undefined) !== null);
    const writes = (verb: string, t: Target) => protectedReason({ ...t, ...named, verb }, undefined) === 'write';
    const writeVerbs = {
      resource: verbs.filter((v) => writes(v, { ...NON_RESOURCE, resourceRequest: true })),
      url: verbs.filter((v) => writes(v, NON_RESOURCE)),
    };
    for (const u of who) {
      for (const verb of verbs) {
        for (let i = 0; i < targets.length; i++) {
          const t = targets[i]!;
          if (
            u.noUser !== true &&
            !protectedTarget[i] &&
            !(t.resourceRequest ? writeVerbs.resource : writeVerbs.url).includes(verb)
          )
            continue;
          const attrs: RequestAttributes = { ...t, ...u, verb };
          if (protectedReason(attrs, undefined) === null || !matches(only, attrs)) continue;
          if (levelRank(this.base.evaluate(attrs).level) > level) return { proved: false, counterexample: attrs };
        }
      }
    }
    return { proved: true };
  }
}
