/**
 * Audit events for tests: the one builder (`auditEvent`, fields in the order the API server
 * writes them), the shapes the tests use built on it, the fixture files, and stream files read back.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Level, Stage } from '../../src/audit/model.js';
import { mulberry32 } from '../rng.js';
import { ROOT } from './cli.js';

/** The order the API server writes an event's fields in; fields not named here come after them. */
const FIELD_ORDER = [
  'kind',
  'apiVersion',
  'level',
  'auditID',
  'stage',
  'requestURI',
  'verb',
  'user',
  'impersonatedUser',
  'sourceIPs',
  'userAgent',
  'objectRef',
  'responseStatus',
  'requestObject',
  'responseObject',
  'requestReceivedTimestamp',
  'stageTimestamp',
  'annotations',
] as const;

/**
 * An audit event of exactly `fields`, in the API server's order (a field set to undefined is left
 * out). Every test event is made here, so they all look like what the API server sends.
 */
export function auditEvent<T extends Record<string, unknown>>(fields: T): T {
  const out: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) if (fields[k] !== undefined) out[k] = fields[k];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in out)) out[k] = v;
  return out as T;
}

export interface EventInit {
  level?: Level;
  stage?: Stage;
  auditID?: string;
  objects?: boolean;
}

export interface TestEvent {
  level: Level;
  auditID: string;
  stage: Stage;
  requestURI: string;
  [field: string]: unknown;
}

/** A realistic event (~1 KB with objects), as the API server's webhook sends it: no kind/apiVersion in list items. */
export function makeEvent(init: EventInit = {}): TestEvent {
  const level = init.level ?? 'RequestResponse';
  const objects = init.objects ?? true;
  const body = (resourceVersion?: string) => ({
    kind: 'ConfigMap',
    apiVersion: 'v1',
    metadata: { name: 'cm-1', ...(resourceVersion ? { resourceVersion } : {}) },
    data: { a: 'x'.repeat(100) },
  });
  return auditEvent({
    level,
    auditID: init.auditID ?? randomUUID(),
    stage: init.stage ?? 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/configmaps/cm-1',
    verb: 'update',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['172.18.0.1'],
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    objectRef: { resource: 'configmaps', namespace: 'default', name: 'cm-1', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestObject: objects && (level === 'Request' || level === 'RequestResponse') ? body() : undefined,
    responseObject: objects && level === 'RequestResponse' ? body('42') : undefined,
    requestReceivedTimestamp: '2024-05-01T10:00:00.000000Z',
    stageTimestamp: '2024-05-01T10:00:00.002000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  });
}

/** A webhook batch: an EventList of `items`, one line. */
export function eventList(items: unknown[], apiVersion = 'audit.k8s.io/v1'): string {
  return JSON.stringify({ kind: 'EventList', apiVersion, metadata: {}, items });
}

/** A stream file's lines (none when it does not exist); throws on a torn last line. */
export async function readLines(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${path} ends with a torn line`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

export async function readEvents(path: string): Promise<Record<string, unknown>[]> {
  return (await readLines(path)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** test/fixtures/events: stream files as the receiver writes them. */
export const FIXTURES = join(ROOT, 'test/fixtures/events');

export async function fixtureLines(fixture: string): Promise<string[]> {
  return (await readFile(join(FIXTURES, fixture), 'utf8')).split('\n').filter((l) => l !== '');
}

/** A fixture line made into a new event: another auditID (and optionally other fields). */
export function variant(line: string, auditID: string, patch: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...(JSON.parse(line) as object), auditID, ...patch });
}

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

const USERS = [
  'system:kube-scheduler',
  'system:node:kind-worker',
  'kubernetes-admin',
  'system:serviceaccount:kube-system:coredns',
  'jérôme ✓',
  undefined,
];
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
export const microTime = (micros: number) =>
  `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19)}.${pad(micros % 1_000_000, 6)}Z`;

/** The event a spec describes, as its stream line would hold it. */
function specEvent(s: Omit<Spec, 'line'>, auditID: string): Record<string, unknown> {
  const { group, resource, sub, path } = s;
  const objectRef = {
    resource,
    ...(s.namespace ? { namespace: s.namespace } : {}),
    ...(group ? { apiGroup: group } : {}),
    apiVersion: 'v1',
    ...(sub ? { subresource: sub } : {}),
  };
  return auditEvent({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID,
    stage: s.stage,
    requestURI: resource === undefined ? path : `/api/v1/${resource}`,
    verb: s.verb,
    user: s.user !== undefined ? { username: s.user, groups: ['system:authenticated'] } : {},
    userAgent: s.agent,
    objectRef: resource !== undefined ? objectRef : undefined,
    responseStatus: s.code !== undefined ? { metadata: {}, code: s.code } : undefined,
    requestReceivedTimestamp: microTime(s.micros),
    stageTimestamp: microTime(s.micros + 1500),
  });
}

/**
 * `count` generated events (for `top`), `perSecond` of them each second from `startMicros`, in time
 * order; each with its spec, from which a test works out what to expect, never from the program's own code.
 */
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
    const auditID = `${pad(o.seed, 4)}${pad(i, 8)}-0000-4000-8000-000000000000`;
    specs.push({ ...spec, line: JSON.stringify(specEvent(spec, auditID)) });
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
export function expectedGroups(
  specs: readonly Spec[],
  keys: readonly string[],
  sinkOf: (s: Spec) => string = () => '',
): Map<string, { events: number; bytes: number }> {
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
export function printedGroups(
  groups: readonly { key: Record<string, unknown>; events: number; bytes: number }[],
  keys: readonly string[],
): Map<string, { events: number; bytes: number }> {
  return new Map(groups.map((g) => [JSON.stringify(keys.map((k) => g.key[k])), { events: g.events, bytes: g.bytes }]));
}

export const fileText = (specs: readonly Spec[]) => specs.map((s) => `${s.line}\n`).join('');
