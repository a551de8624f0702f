/**
 * The audit policy engine: which rule of an audit.k8s.io/v1 Policy a request matches, and the
 * level, omitted stages and omitManagedFields that follow, exactly as k8s.io/apiserver
 * pkg/audit/policy (checker.go, v0.37) decides them. Pure: no I/O. Loading and validation live in
 * policyLoader.ts; test/conformance/policydiff compares this file with upstream on generated cases.
 */
import { isLevel, isObject, type Level, levelRank, STAGES, type Stage } from './model.js';

export interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

export interface PolicyRule {
  level: string;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: string[];
  /** null when the rule does not say: the policy's value applies. */
  omitManagedFields: boolean | null;
}

export interface Policy {
  rules: PolicyRule[];
  omitStages: string[];
  omitManagedFields: boolean;
}

/** What the evaluator sees of a request: upstream's authorizer.Attributes, as far as audit reads them. */
export interface RequestAttributes {
  /** The user's name; '' with `noUser`. */
  user: string;
  /**
   * The request carries no user at all: its authentication failed (a 401). Upstream's attributes
   * then hold a nil user, which no users or userGroups rule matches, not even `users: [""]`.
   */
  noUser?: boolean;
  groups: readonly string[];
  verb: string;
  resourceRequest: boolean;
  namespace: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  /** Only read for non-resource requests. */
  path: string;
}

export interface Decision {
  /** The 0-based index of the first matching rule; null when none matched (level None). */
  rule: number | null;
  level: Level;
  /** The rule's and the policy's omitStages together, in lifecycle order. */
  omitStages: readonly Stage[];
  omitManagedFields: boolean;
}

export interface EngineOptions {
  /**
   * Whether a resources[].group of "*" matches every group. Kubernetes 1.36 (k8s.io/apiserver
   * v0.36) added it; before, "*" fails validation as a group name. Default true.
   */
  groupWildcard?: boolean;
}

interface CompiledGroupResources {
  group: string;
  /** No resources listed: every resource of the group, whatever resourceNames says. */
  all: boolean;
  names: Set<string> | null;
  star: boolean;
  exact: Set<string>;
  /** From "*\/sub": the subresources matched under any resource. */
  anySub: Set<string>;
  /** From "res/*": the resources matched with or without a subresource. */
  anyOf: Set<string>;
}

interface CompiledRule {
  users: Set<string> | null;
  groups: Set<string> | null;
  verbs: Set<string> | null;
  /** Namespaces or resources are set: only resource requests can match. */
  resourceRule: boolean;
  namespaces: Set<string> | null;
  groupResources: CompiledGroupResources[] | null;
  nonResource: { star: boolean; exact: Set<string>; prefixes: string[] } | null;
  decision: Decision;
}

const setOrNull = (values: readonly string[]) => (values.length > 0 ? new Set(values) : null);

function unionStages(...lists: (readonly string[])[]): Stage[] {
  const all = new Set<string>(lists.flat());
  return STAGES.filter((s) => all.has(s));
}

function compileGroupResources(gr: GroupResources): CompiledGroupResources {
  const c: CompiledGroupResources = {
    group: gr.group,
    all: gr.resources.length === 0,
    names: setOrNull(gr.resourceNames),
    star: false,
    exact: new Set(),
    anySub: new Set(),
    anyOf: new Set(),
  };
  for (const res of gr.resources) {
    c.exact.add(res);
    if (res === '*') c.star = true;
    // strings.TrimPrefix removes one "*/" only: "*/*" matches the subresource "*".
    if (res.startsWith('*/')) c.anySub.add(res.slice(2));
    if (res.endsWith('/*')) c.anyOf.add(res.slice(0, -2));
  }
  return c;
}

function nonResourceMatcher(specs: readonly string[]): CompiledRule['nonResource'] {
  const m = { star: false, exact: new Set<string>(), prefixes: [] as string[] };
  for (const spec of specs) {
    if (spec === '*') m.star = true;
    m.exact.add(spec);
    // strings.TrimRight trims every trailing "*".
    if (spec.endsWith('*')) m.prefixes.push(spec.replace(/\*+$/, ''));
  }
  return m;
}

function compileRule(
  rule: PolicyRule,
  index: number,
  policy: Pick<Policy, 'omitStages' | 'omitManagedFields'>,
): CompiledRule {
  return {
    users: setOrNull(rule.users),
    groups: setOrNull(rule.userGroups),
    verbs: setOrNull(rule.verbs),
    resourceRule: rule.namespaces.length > 0 || rule.resources.length > 0,
    namespaces: setOrNull(rule.namespaces),
    groupResources: rule.resources.length > 0 ? rule.resources.map(compileGroupResources) : null,
    nonResource: rule.nonResourceURLs.length > 0 ? nonResourceMatcher(rule.nonResourceURLs) : null,
    decision: Object.freeze({
      rule: index,
      level: rule.level as Level,
      omitStages: Object.freeze(unionStages(policy.omitStages, rule.omitStages)),
      omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields,
    }),
  };
}

/** What resource matching reads of a request. */
export type ResourceAttributes = Pick<RequestAttributes, 'apiGroup' | 'resource' | 'subresource' | 'name'>;

function matchesGroupResources(
  grs: readonly CompiledGroupResources[],
  a: ResourceAttributes,
  combined: string,
  groupWildcard: boolean,
): boolean {
  for (const gr of grs) {
    if (gr.group !== a.apiGroup && !(groupWildcard && gr.group === '*')) continue;
    if (gr.all) return true;
    if (gr.names !== null && !gr.names.has(a.name)) continue;
    if (gr.star) return true;
    if (gr.exact.has(combined)) return true;
    if (a.subresource !== '' && gr.anySub.has(a.subresource)) return true;
    if (gr.anyOf.has(a.resource)) return true;
  }
  return false;
}

/**
 * A rule's resources as a matcher of resource requests, the rules' own matching: `tail --resource`
 * uses it with one entry per flag, so a flag selects what a policy rule naming it would.
 */
export function resourcesMatcher(
  grs: readonly GroupResources[],
  groupWildcard = false,
): (a: ResourceAttributes) => boolean {
  const compiled = grs.map(compileGroupResources);
  return (a) =>
    matchesGroupResources(
      compiled,
      a,
      a.subresource !== '' ? `${a.resource}/${a.subresource}` : a.resource,
      groupWildcard,
    );
}

function ruleMatches(r: CompiledRule, a: RequestAttributes, combined: string, groupWildcard: boolean): boolean {
  if (r.users !== null && (a.noUser === true || !r.users.has(a.user))) return false;
  if (r.groups !== null) {
    if (a.noUser === true) return false;
    let member = false;
    for (const g of a.groups) {
      if (r.groups.has(g)) {
        member = true;
        break;
      }
    }
    if (!member) return false;
  }
  if (r.verbs !== null && !r.verbs.has(a.verb)) return false;
  // A rule with namespaces or resources is a resource rule: its nonResourceURLs are not read.
  if (r.resourceRule) {
    if (!a.resourceRequest) return false;
    if (r.namespaces !== null && !r.namespaces.has(a.namespace)) return false;
    return r.groupResources === null || matchesGroupResources(r.groupResources, a, combined, groupWildcard);
  }
  if (r.nonResource !== null) {
    if (a.resourceRequest) return false;
    const m = r.nonResource;
    if (m.star || m.exact.has(a.path)) return true;
    for (const p of m.prefixes) if (a.path.startsWith(p)) return true;
    return false;
  }
  return true;
}

/** A loaded policy, ready to evaluate many requests. */
export class PolicyEvaluator {
  private readonly rules: CompiledRule[];
  private readonly none: Decision;
  private readonly groupWildcard: boolean;

  constructor(
    readonly policy: Policy,
    opts: EngineOptions = {},
  ) {
    this.groupWildcard = opts.groupWildcard ?? true;
    this.rules = policy.rules.map((r, i) => compileRule(r, i, policy));
    this.none = Object.freeze({
      rule: null,
      level: 'None',
      omitStages: Object.freeze(unionStages(policy.omitStages)),
      omitManagedFields: policy.omitManagedFields,
    });
  }

  /** Rules in order, the first match wins; no match is None. The result is shared: do not modify it. */
  evaluate(a: RequestAttributes): Decision {
    // "resource/subresource", as rules name it: built once per request, not once per rule.
    const combined = a.subresource !== '' ? `${a.resource}/${a.subresource}` : a.resource;
    for (const r of this.rules) if (ruleMatches(r, a, combined, this.groupWildcard)) return r.decision;
    return this.none;
  }
}

/** Whether an event of this stage is written under a decision (None writes nothing). */
export function stageLogged(d: Decision, stage: string): boolean {
  return d.level !== 'None' && !(d.omitStages as readonly string[]).includes(stage);
}

// ---- Events to attributes ---------------------------------------------------------------

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * What the audit filter gave the evaluator for the request an event records. objectRef is set
 * exactly for resource requests; a non-resource request's path is req.URL.Path, and the event's
 * requestURI is req.URL.RequestURI(), so the path is requestURI parsed back.
 */
export function eventAttributes(event: Record<string, unknown>): RequestAttributes {
  const user = isObject(event.user) ? event.user : {};
  const groups = Array.isArray(user.groups) ? user.groups.filter((g): g is string => typeof g === 'string') : [];
  // The API server writes a nil user as `user: {}` (the name is omitted when empty), and no
  // authenticator gives a user without a name: an event without one records a request that had no user.
  const who = typeof user.username === 'string' ? { user: user.username, groups } : { user: '', groups, noUser: true };
  const ref = event.objectRef;
  if (isObject(ref)) {
    return {
      ...who,
      verb: str(event.verb),
      resourceRequest: true,
      namespace: str(ref.namespace),
      apiGroup: str(ref.apiGroup),
      resource: str(ref.resource),
      subresource: str(ref.subresource),
      name: str(ref.name),
      path: '',
    };
  }
  return {
    ...who,
    verb: str(event.verb),
    resourceRequest: false,
    namespace: '',
    apiGroup: '',
    resource: '',
    subresource: '',
    name: '',
    path: requestPath(str(event.requestURI)),
  };
}

const CTL = /[\u0000-\u001f\u007f]/;
const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const utf8 = new TextDecoder();

/**
 * url.ParseRequestURI(requestURI).Path, as Go computes it; where Go fails (which a real request
 * cannot produce) the part before "?" as is, like test/conformance/policydiff does.
 */
export function requestPath(requestURI: string): string {
  const fallback = () => {
    const q = requestURI.indexOf('?');
    return q < 0 ? requestURI : requestURI.slice(0, q);
  };
  if (requestURI === '*') return '*';
  if (requestURI === '' || CTL.test(requestURI)) return fallback();
  // getScheme: letters, then letters, digits, "+", "-", "." up to ":"; anything else means no scheme.
  let rest = requestURI;
  let scheme = '';
  for (let i = 0; i < requestURI.length; i++) {
    const c = requestURI[i]!;
    if (c === ':') {
      if (i === 0) return fallback();
      scheme = requestURI.slice(0, i);
      rest = requestURI.slice(i + 1);
      break;
    }
    const letter = /[A-Za-z]/.test(c);
    if (!letter && (i === 0 || !SCHEME_CHAR.test(c))) break;
  }
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) {
    if (scheme !== '') return ''; // an opaque URL has no path
    return fallback();
  }
  if (scheme !== '' && rest.startsWith('//')) {
    // The authority is parsed and dropped; its own errors are not modelled (never in an event).
    const slash = rest.indexOf('/', 2);
    rest = slash < 0 ? '' : rest.slice(slash);
  }
  if (!rest.includes('%')) return rest;
  if (BAD_ESCAPE.test(rest)) return fallback();
  const bytes: number[] = [];
  for (let i = 0; i < rest.length; ) {
    if (rest[i] === '%') {
      bytes.push(parseInt(rest.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = rest.codePointAt(i)!;
      const enc = Buffer.from(String.fromCodePoint(cp), 'utf8');
      for (const b of enc) bytes.push(b);
      i += cp > 0xffff ? 2 : 1;
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}

// ---- A policy as a sink ------------------------------------------------------------------

/**
 * The most a policy can log: its highest rule level, and every stage some logging rule keeps.
 * A sink with this policy is covered by a capture of at least this.
 */
export function policyReach(policy: Policy): { level: Level; stages: Stage[] } {
  let level: Level = 'None';
  const stages = new Set<Stage>();
  for (const rule of policy.rules) {
    if (!isLevel(rule.level) || rule.level === 'None') continue;
    if (levelRank(rule.level) > levelRank(level)) level = rule.level;
    const omitted = new Set([...policy.omitStages, ...rule.omitStages]);
    for (const s of STAGES) if (!omitted.has(s)) stages.add(s);
  }
  return { level, stages: STAGES.filter((s) => stages.has(s)) };
}
