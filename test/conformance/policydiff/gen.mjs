// The one place the differential inputs come from: audit policies full of edge cases and request
// events, generated from a seed, so the Go program (upstream) and compare.mjs (audit-lab) read
// exactly the same bytes. Also used by test/bench/policy.mjs.
//
//   node gen.mjs --out DIR [--seed N] [--events N] [--random-policies N]
//
// writes DIR/policies.json ([{id, yaml}]) and DIR/events.jsonl (one audit.k8s.io/v1 Event a line).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';

/** mulberry32: small, fast, and the same sequence on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  const chance = (p) => next() < p;
  const some = (xs, max) => {
    const n = int(max + 1);
    const out = [];
    for (let i = 0; i < n; i++) out.push(pick(xs));
    return out;
  };
  return { next, int, pick, chance, some };
}

// Vocabulary shared by requests and rules, so rules match often and near-misses are common.
const USERS = ['kubernetes-admin', 'system:kube-proxy', 'system:serviceaccount:kube-system:generic-garbage-collector', 'system:node:kind-control-plane', 'alice', '', 'system:anonymous', '*', 'Alice'];
const GROUPS = ['system:masters', 'system:authenticated', 'system:unauthenticated', 'system:nodes', 'system:serviceaccounts', 'dev', '', '*'];
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', '', '*', 'GET'];
const API_GROUPS = ['', '', 'apps', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'batch', 'authentication.k8s.io', 'events.k8s.io', '*', 'Apps'];
const RESOURCES = ['pods', 'pods', 'secrets', 'configmaps', 'leases', 'deployments', 'roles', 'clusterrolebindings', 'events', 'nodes', 'tokenreviews', 'endpoints', '*', '', 'pod'];
const SUBRESOURCES = ['', '', '', '', 'log', 'status', 'scale', 'exec', 'token', '*'];
const NAMESPACES = ['', '', 'default', 'kube-system', 'dev', '*', 'Default'];
const NAMES = ['', '', 'a', 'cm1', 'secret-x', 'kube-controller-manager', '*'];
const URIS = [
  '/healthz', '/healthz/etcd', '/healthz?verbose', '/readyz?exclude=etcd&verbose', '/livez', '/metrics', '/api', '/api/v1', '/apis',
  '/apis/apps', '/version', '/', '', '/openapi/v2?timeout=32s', '/healthz%2Fx', '/a%20b', '/%zz', '/x?', '/*', '/healthzz', 'metrics',
  '/%C3%A9t%C3%A9', '/%ff', '/api?', '/api/', '//double', 'http://h/p?q', '*', 'a:b', ':x', '/ctl\u0001', '/openid/v1/jwks',
];
const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];
const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'];

// Rule-side forms: every wildcard upstream knows, and strings that look like one but are not.
const RULE_RESOURCES = ['pods', 'pods/log', 'pods/*', '*', '*/status', '*/scale', '*/*', '/*', '*/', 'secrets', 'configmaps', 'leases', 'deployments/scale', 'roles', 'events', 'nodes/status', '', 'pods/', 'tokenreviews', 'endpoints', 'pods/status/x'];
const RULE_GROUPS = ['', '', 'apps', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'authentication.k8s.io', 'events.k8s.io', '*', 'batch'];
const RULE_URLS = ['*', '/healthz*', '/healthz', '/readyz*', '/livez*', '/', '/api*', '/api', '/*', '/metrics', '/version', '/a b', '/été', '/healthz/*', '/openapi**', '/x'];

export function randomEvent(r, i) {
  const ev = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: r.pick(['Metadata', 'Request', 'RequestResponse']),
    auditID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    stage: r.pick(STAGES),
    verb: r.pick(VERBS),
    user: { username: r.pick(USERS) },
  };
  const groups = [...new Set(r.some(GROUPS, 3))];
  if (groups.length > 0 || r.chance(0.5)) ev.user.groups = groups;
  // A request that failed authentication (401) is written with an empty user: no username.
  if (r.chance(0.05)) ev.user = {};
  if (r.chance(0.7)) {
    const ref = {};
    const res = r.pick(RESOURCES);
    if (res !== '' || r.chance(0.5)) ref.resource = res;
    const ns = r.pick(NAMESPACES);
    if (ns !== '') ref.namespace = ns;
    const name = r.pick(NAMES);
    if (name !== '') ref.name = name;
    const group = r.pick(API_GROUPS);
    if (group !== '') ref.apiGroup = group;
    ref.apiVersion = 'v1';
    const sub = r.pick(SUBRESOURCES);
    if (sub !== '') ref.subresource = sub;
    ev.objectRef = ref;
    ev.requestURI = `/api/v1/${ns ? `namespaces/${ns}/` : ''}${res}${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;
  } else {
    ev.requestURI = r.pick(URIS);
  }
  return ev;
}

function randomRule(r, valid) {
  const rule = { level: r.pick(LEVELS) };
  if (r.chance(0.25)) rule.users = r.some(USERS, 3);
  if (r.chance(0.25)) rule.userGroups = r.some(GROUPS, 3);
  if (r.chance(0.35)) rule.verbs = r.some(VERBS, 4);
  const shape = r.int(4); // 0: resources, 1: non-resource, 2: namespaces only, 3: neither
  if (shape === 0 || (!valid && r.chance(0.3))) {
    rule.resources = [];
    const n = r.int(3) + (r.chance(0.1) ? 0 : 1);
    for (let i = 0; i < n; i++) {
      const gr = {};
      if (r.chance(0.85)) gr.group = r.pick(RULE_GROUPS);
      if (r.chance(0.85)) gr.resources = r.some(RULE_RESOURCES, 4);
      if (r.chance(0.2) && (gr.resources?.length > 0 || !valid)) gr.resourceNames = r.some(NAMES, 3);
      rule.resources.push(gr);
    }
    if (r.chance(0.4)) rule.namespaces = r.some(NAMESPACES.filter((n) => n !== 'Default'), 3);
  }
  if (shape === 1 || (!valid && r.chance(0.3))) rule.nonResourceURLs = r.some(RULE_URLS, 3);
  if (shape === 2) rule.namespaces = r.some(NAMESPACES, 2);
  if (r.chance(0.3)) rule.omitStages = r.some(STAGES, 2);
  if (r.chance(0.3)) rule.omitManagedFields = r.chance(0.5);
  if (!valid && r.chance(0.3)) rule.level = r.pick(['', 'Foo', 'metadata', '<b>']);
  if (!valid && r.chance(0.2)) rule.omitStages = ['ResponseCompleted', ...(rule.omitStages ?? [])];
  if (!valid && r.chance(0.2)) rule.nonResourceURLs = [...(rule.nonResourceURLs ?? []), r.pick(['api', '/a*b', '', '**', '/x*y*'])];
  if (!valid && r.chance(0.2)) rule.resources = [...(rule.resources ?? []), { group: r.pick(['Apps', 'rbac.authorization.k8s.io/v1', 'a_b', '-x']), resources: ['pods'] }];
  return rule;
}

function randomPolicy(r, valid) {
  const p = { apiVersion: 'audit.k8s.io/v1', kind: 'Policy' };
  if (r.chance(0.4)) p.omitStages = r.some(STAGES, 2);
  if (r.chance(0.3)) p.omitManagedFields = r.chance(0.6);
  p.rules = [];
  const n = 1 + r.int(8);
  for (let i = 0; i < n; i++) p.rules.push(randomRule(r, valid));
  // A catch-all often ends real policies; sometimes it is missing, so "no match" is common too.
  if (r.chance(0.5)) p.rules.push({ level: r.pick(LEVELS) });
  return p;
}

const y = (obj) => stringify(obj, { lineWidth: 0 });
const head = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

/** Hand-written policies: each names the edge it is about. */
export const HANDWRITTEN = [
  ['resource-wildcards', head + `rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["pods/*"]}]
  - level: Request
    resources: [{group: "", resources: ["*/status", "*/*"]}]
  - level: Metadata
    resources: [{group: "apps", resources: ["*"]}, {group: "", resources: ["/*", "*/"]}]
  - level: None
    resources: [{group: "*", resources: ["*/scale"]}]
`],
  ['group-only-and-empty', head + `rules:
  - level: Request
    resources: [{group: ""}]
  - level: Metadata
    resources: [{}]
`],
  ['resource-names', head + `rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps", "pods/log"], resourceNames: ["cm1", "a", ""]}]
  - level: Metadata
    resources: [{group: "coordination.k8s.io", resources: ["leases"], resourceNames: ["kube-controller-manager"]}]
  - level: Request
`],
  ['namespaces-cluster-scoped', head + `rules:
  - level: None
    namespaces: [""]
  - level: Metadata
    namespaces: ["kube-system", "*"]
    resources: [{group: "", resources: ["secrets"]}]
  - level: Request
    namespaces: ["default"]
`],
  ['non-resource-urls', head + `rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
  - level: Metadata
    nonResourceURLs: ["/api*", "/"]
  - level: Request
    nonResourceURLs: ["/openapi**", "/a b", "/été", "/*"]
  - level: RequestResponse
    nonResourceURLs: ["*"]
`],
  ['users-groups-verbs', head + `rules:
  - level: None
    users: ["system:kube-proxy", ""]
    verbs: ["watch", "*"]
  - level: RequestResponse
    userGroups: ["system:masters", ""]
  - level: Request
    users: ["*"]
  - level: Metadata
    verbs: ["get", "GET", ""]
`],
  ['omit-stages-union', `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, RequestReceived]
omitManagedFields: true
rules:
  - level: Request
    omitStages: [ResponseStarted, RequestReceived]
    omitManagedFields: false
    resources: [{group: ""}]
  - level: Metadata
    omitStages: [Panic]
    nonResourceURLs: ["*"]
  - level: RequestResponse
    omitManagedFields: true
    verbs: [create]
`],
  ['no-catch-all-policy-stages', `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseStarted]
rules:
  - level: Metadata
    resources: [{group: "rbac.authorization.k8s.io"}]
`],
  ['empty-lists-and-nulls', head + `rules:
  - level: RequestResponse
    users: []
    userGroups: null
    verbs: ~
    resources: []
    namespaces: []
    nonResourceURLs: []
    omitStages: []
  - level: None
`],
  ['yaml-1.1-bool-for-bool', head + `omitManagedFields: yes
rules:
  - level: Metadata
    omitManagedFields: off
`],
  ['anchors-and-merge', head + `rules:
  - &quiet
    level: None
    verbs: [watch]
  - <<: *quiet
    users: [alice]
  - level: Request
    resources: &core [{group: "", resources: [pods]}]
  - level: RequestResponse
    resources: *core
`],
  ['json-form', '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata","resources":[{"group":"","resources":["secrets"]}]},{"level":"Request"}]}'],
  ['metadata-field', head + `metadata:
  name: my-policy
  labels: {a: b}
rules:
  - level: Metadata
`],
  ['null-group-resource', head + `rules:
  - level: Request
    resources: [~, {group: apps}]
    namespaces: [~]
`],
  ['null-rule', head + `rules:
  - level: Metadata
  -
`],
  // Decoding: both sides must refuse these (messages differ by design: ours carry line numbers).
  ['decode-unknown-field', head + `rules:
  - level: Metadata
    verb: [get]
`],
  ['decode-unknown-top-field', head + `omitStage: [RequestReceived]
rules:
  - level: Metadata
`],
  ['decode-bool-as-string', head + `rules:
  - level: Metadata
    verbs: [get, on]
`],
  ['decode-number-as-string', head + `rules:
  - level: Metadata
    resources: [{group: "", resources: [pods], resourceNames: [123]}]
`],
  ['decode-string-for-list', head + `rules:
  - level: Metadata
    users: alice
`],
  ['decode-string-for-bool', head + `rules:
  - level: Metadata
    omitManagedFields: "true"
`],
  ['decode-wrong-version', `apiVersion: audit.k8s.io/v1beta1
kind: Policy
rules:
  - level: Metadata
`],
  ['missing-kind', `apiVersion: audit.k8s.io/v1
rules:
  - level: Metadata
`],
  ['missing-apiversion', `kind: Policy
rules:
  - level: Metadata
`],
  ['decode-wrong-kind', `apiVersion: audit.k8s.io/v1
kind: AuditPolicy
rules:
  - level: Metadata
`],
  ['decode-core-v1', `apiVersion: v1
kind: Policy
rules:
  - level: Metadata
`],
  ['decode-not-a-map', `- level: Metadata
`],
  ['decode-merge-override', head + `rules:
  - &quiet
    level: None
  - <<: *quiet
    level: Metadata
`],
  ['decode-duplicate-key', head + `rules:
  - level: Metadata
    level: None
`],
  ['decode-unknown-group-resource-field', head + `rules:
  - level: Metadata
    resources: [{group: "", resource: [pods]}]
`],
  // Validation: both sides must refuse with the same message.
  ['invalid-empty-rules', head + 'rules: []\n'],
  ['invalid-no-rules', head],
  ['invalid-levels', head + `rules:
  - level: ""
  - level: metadata
  - level: "<b>&"
  - {}
`],
  ['invalid-urls', head + `rules:
  - level: None
    nonResourceURLs: ["api", "/a*b", "", "**", "*", "/ok*"]
`],
  ['invalid-both', head + `rules:
  - level: None
    nonResourceURLs: ["/healthz"]
    namespaces: [""]
  - level: None
    nonResourceURLs: ["/x", "<y>"]
    resources: [{group: ""}]
`],
  ['invalid-groups-dedup', head + `rules:
  - level: Metadata
    resources:
      - {group: "Apps", resources: [deployments]}
      - {group: "Apps", resources: [replicasets]}
      - {group: "rbac.authorization.k8s.io/v1"}
      - {group: "", resourceNames: [a, b]}
`],
  ['invalid-stages', `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseCompleted, "tab\\there", "é"]
rules:
  - level: Metadata
    omitStages: [RequestReceived, Done]
`],
  ['invalid-long-group', head + `rules:
  - level: Metadata
    resources: [{group: "${'a'.repeat(254)}"}]
`],
];

export function generate({ seed = 7, events = 10_000, randomPolicies = 60, randomInvalid = 20 } = {}) {
  const r = rng(seed);
  const policies = HANDWRITTEN.map(([id, yaml]) => ({ id, yaml }));
  for (let i = 0; i < randomPolicies; i++) policies.push({ id: `random-${i}`, yaml: y(randomPolicy(r, true)) });
  for (let i = 0; i < randomInvalid; i++) policies.push({ id: `random-invalid-${i}`, yaml: y(randomPolicy(r, false)) });
  const evs = [];
  for (let i = 0; i < events; i++) evs.push(randomEvent(r, i));
  return { policies, events: evs };
}

export function writeCases(dir, cases) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'policies.json'), JSON.stringify(cases.policies));
  writeFileSync(join(dir, 'events.jsonl'), cases.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      seed: { type: 'string', default: '7' },
      events: { type: 'string', default: '10000' },
      'random-policies': { type: 'string', default: '60' },
    },
  });
  if (!values.out) {
    console.error('usage: node gen.mjs --out DIR [--seed N] [--events N] [--random-policies N]');
    process.exit(2);
  }
  const cases = generate({ seed: Number(values.seed), events: Number(values.events), randomPolicies: Number(values['random-policies']) });
  writeCases(values.out, cases);
  console.log(`${cases.policies.length} policies, ${cases.events.length} events (seed ${values.seed}) -> ${values.out}`);
}
