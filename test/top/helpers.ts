/**
 * Generated audit events for the `top` tests, and the counts the tests expect, worked out from
 * what was generated (each event's spec), never from the program's own code.
 */
import { mulberry32 } from '../rng.js';

/** What one generated event is, field by field; undefined: the event has no such field. */
export interface Spec {
  user: string | undefined;
  verb: string;
  /** A resource request ... */
  group: string;
  resource: string | undefined;
  sub: string;
  /** ... or a non-resource one. */
  path: string;
  namespace: string | undefined;
  code: number | undefined;
  agent: string | undefined;
  stage: string;
  /** requestReceivedTimestamp, µs since the epoch. */
  micros: number;
  line: string;
}

const USERS = ['system:kube-scheduler', 'system:node:kind-worker', 'kubernetes-admin', 'system:serviceaccount:kube-system:coredns', 'jérôme ✓', undefined];
const VERBS = ['get', 'list', 'watch', 'update', 'create', 'delete'];
// [group, resource, subresource, non-resource path]
const TARGETS: [string, string | undefined, string, string][] = [
  ['', 'pods', '', ''],
  ['', 'pods', 'log', ''],
  ['', 'secrets', '', ''],
  ['coordination.k8s.io', 'leases', '', ''],
  ['apps', 'deployments', 'scale', ''],
  ['', undefined, '', '/healthz'],
];
const NAMESPACES = ['default', 'kube-system', undefined];
const CODES = [200, 200, 200, 201, 404, 403, undefined];
const AGENTS = ['kubectl/v1.31.0', 'kube-scheduler/v1.31.0', undefined];
const STAGES = ['ResponseComplete', 'ResponseComplete', 'RequestReceived'];

const pad = (n: number, w: number) => String(n).padStart(w, '0');
export const microTime = (micros: number) => `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19)}.${pad(micros % 1_000_000, 6)}Z`;

/** `count` events, `perSecond` of them each second from `startMicros`, in time order. */
export function generate(o: { count: number; seed: number; startMicros: number; perSecond: number }): Spec[] {
  const r = mulberry32(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const specs: Spec[] = [];
  for (let i = 0; i < o.count; i++) {
    const [group, resource, sub, path] = pick(TARGETS);
    const spec = {
      user: pick(USERS),
      verb: pick(VERBS),
      group,
      resource,
      sub,
      path,
      namespace: resource === undefined ? undefined : pick(NAMESPACES),
      code: pick(CODES),
      agent: pick(AGENTS),
      stage: pick(STAGES),
      micros: o.startMicros + Math.floor((i * 1_000_000) / o.perSecond) + Math.floor(r() * 100),
    };
    const event = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: `${pad(o.seed, 4)}${pad(i, 8)}-0000-4000-8000-000000000000`,
      stage: spec.stage,
      requestURI: resource === undefined ? path : `/api/v1/${resource}`,
      verb: spec.verb,
      ...(spec.user !== undefined ? { user: { username: spec.user, groups: ['system:authenticated'] } } : { user: {} }),
      ...(spec.agent !== undefined ? { userAgent: spec.agent } : {}),
      ...(resource !== undefined
        ? { objectRef: { resource, ...(spec.namespace ? { namespace: spec.namespace } : {}), ...(group ? { apiGroup: group } : {}), apiVersion: 'v1', ...(sub ? { subresource: sub } : {}) } }
        : {}),
      ...(spec.code !== undefined ? { responseStatus: { metadata: {}, code: spec.code } } : {}),
      requestReceivedTimestamp: microTime(spec.micros),
      stageTimestamp: microTime(spec.micros + 1500),
    };
    specs.push({ ...spec, line: JSON.stringify(event) });
  }
  return specs;
}

/** What a key of `top --by` should say of a spec, as -o json writes it (null: none). */
export function keyOf(s: Spec, key: string, sink = ''): string | number | null {
  switch (key) {
    case 'user':
      return s.user ?? null;
    case 'verb':
      return s.verb;
    case 'resource':
      return s.resource === undefined ? s.path : [s.group, s.resource, s.sub].filter((p) => p !== '').join('/');
    case 'namespace':
      return s.namespace ?? null;
    case 'code':
      return s.code ?? null;
    case 'useragent':
      return s.agent ?? null;
    case 'stage':
      return s.stage;
    case 'sink':
      return sink;
  }
  throw new Error(`no key ${key}`);
}

/** Events and bytes (each line's UTF-8 bytes and its newline) per group of `keys`, keyed by JSON of the values. */
export function expectedGroups(specs: readonly Spec[], keys: readonly string[], sinkOf: (s: Spec) => string = () => ''): Map<string, { events: number; bytes: number }> {
  const out = new Map<string, { events: number; bytes: number }>();
  for (const s of specs) {
    const id = JSON.stringify(keys.map((k) => keyOf(s, k, sinkOf(s))));
    const g = out.get(id) ?? { events: 0, bytes: 0 };
    g.events += 1;
    g.bytes += Buffer.byteLength(s.line, 'utf8') + 1;
    out.set(id, g);
  }
  return out;
}

/** The groups of `top -o jsonl` (or of -o json's `groups`), keyed as expectedGroups keys them. */
export function printedGroups(groups: readonly { key: Record<string, unknown>; events: number; bytes: number }[], keys: readonly string[]): Map<string, { events: number; bytes: number }> {
  return new Map(groups.map((g) => [JSON.stringify(keys.map((k) => g.key[k])), { events: g.events, bytes: g.bytes }]));
}

export const fileText = (specs: readonly Spec[]) => specs.map((s) => `${s.line}\n`).join('');
