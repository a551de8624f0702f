/** Shared by the receiver tests: a lab in a temp home, real HTTPS clients, generated events. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Level, Stage } from '../../src/audit/model.js';
import { readPidFile, stopReceiver } from '../../src/daemon/daemon.js';
import { isAlive } from '../../src/lab/process.js';
import type { Mode } from '../../src/lab/mode.js';
import { ensureLab, type LabHandle } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths } from '../../src/lab/paths.js';
import { newSinkState, writeState, type SinkState } from '../../src/lab/state.js';
import type { PemPair } from '../../src/lab/pki.js';
import { type RunningReceiver, type StartOptions, startLabReceiver } from '../../src/receiver/start.js';

export interface TempLab {
  home: string;
  lab: LabHandle;
  cleanup(): Promise<void>;
}

/** A lab in a temp home; static mode unless `mode` says otherwise (each mode serves only its own endpoints). */
export async function tempLab(sinks?: { name: string; level: Level; stages: Stage[] }[], port?: number, mode?: Mode): Promise<TempLab> {
  const home = await mkdtemp(join(tmpdir(), 'audit-lab-recv-'));
  const paths = labPaths(home, 'audit-lab');
  let lab = await withLabLock(paths, 'test', () => ensureLab(paths));
  if (sinks || port !== undefined || mode !== undefined) {
    if (sinks) lab.state.sinks = sinks.map((s) => newSinkState({ ...s, throttle: { qps: 10, burst: 15 } }));
    if (port !== undefined) lab.state.receiver.port = port;
    if (mode !== undefined) lab.state.mode = mode;
    await writeState(paths, lab.state);
    lab = await ensureLab(paths);
  }
  return { home, lab, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** Stops a lab's background receiver (SIGKILL if SIGTERM was not enough) and removes the lab. */
export async function removeWithReceiver(t: TempLab): Promise<void> {
  const pid = (await readPidFile(t.lab.paths))?.pid;
  await stopReceiver(t.lab.paths, { timeoutMs: 5000 });
  if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  await t.cleanup();
}

/** Who waits for a line of which log (see `logged`). */
const logWaiters = new WeakMap<string[], Set<() => void>>();

/**
 * The lab's receiver in this process on 127.0.0.1, port 0, watching state.json every 50 ms, each
 * line it logs pushed to `logs` (which `logged` awaits). The caller closes it.
 */
export function startReceiver(lab: LabHandle, logs: string[], o: Omit<StartOptions, 'address' | 'port' | 'log'> = {}): Promise<RunningReceiver> {
  const log = (line: string) => {
    logs.push(line);
    for (const w of logWaiters.get(logs) ?? []) w();
  };
  return startLabReceiver(lab, { address: '127.0.0.1', port: 0, watchIntervalMs: 50, ...o, log });
}

/**
 * Resolves with the first line in `logs` that matches, as soon as the receiver has logged it. The
 * bound only keeps a broken receiver from hanging the suite; nothing is measured.
 */
export function logged(logs: string[], test: RegExp | string, limitMs = 15_000): Promise<string> {
  const hit = () => logs.find((l) => (typeof test === 'string' ? l.includes(test) : test.test(l)));
  return new Promise((resolve, reject) => {
    const waiters = logWaiters.get(logs) ?? new Set();
    logWaiters.set(logs, waiters);
    const check = () => {
      const line = hit();
      if (line === undefined) return;
      done();
      resolve(line);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the receiver never logged ${String(test)}; it logged:\n${logs.join('\n')}`));
    }, limitMs);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}

/** POST options for the lab's mutual TLS: its CA, and its client certificate. */
export function clientTls(lab: LabHandle): PostOptions {
  return { ca: lab.pki.ca.cert, cert: lab.pki.client };
}

export interface Reply {
  status: number;
  body: string;
}

export interface PostOptions {
  ca: string;
  /** null: no client certificate. */
  cert?: PemPair | null;
  contentType?: string | null;
  method?: string;
  headers?: Record<string, string>;
}

/** One request on its own connection; resolves with the reply, rejects when the connection dies without one. */
export function post(url: string, body: string | Buffer, o: PostOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
    headers['content-length'] = Buffer.byteLength(body);
    const opts: RequestOptions = { method: o.method ?? 'POST', ca: o.ca, headers, agent: false };
    if (o.cert) {
      opts.cert = o.cert.cert;
      opts.key = o.cert.key;
    }
    const req = request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
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
  const ev: TestEvent = {
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
  };
  if (init.objects ?? true) {
    if (level === 'Request' || level === 'RequestResponse') ev.requestObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'cm-1' }, data: { a: 'x'.repeat(100) } };
    if (level === 'RequestResponse') ev.responseObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'cm-1', resourceVersion: '42' }, data: { a: 'x'.repeat(100) } };
  }
  ev.requestReceivedTimestamp = '2024-05-01T10:00:00.000000Z';
  ev.stageTimestamp = '2024-05-01T10:00:00.002000Z';
  ev.annotations = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' };
  return ev;
}

export function eventList(items: unknown[], apiVersion = 'audit.k8s.io/v1'): string {
  return JSON.stringify({ kind: 'EventList', apiVersion, metadata: {}, items });
}

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

export function sinkOf(lab: LabHandle, name: string): SinkState {
  const s = lab.state.sinks.find((x) => x.name === name);
  if (!s) throw new Error(`no sink ${name}`);
  return s;
}

export { eventually } from '../helpers.js';

/** Two static sinks at the ends of the level range, both at ResponseComplete. */
export const META_AND_FULL = [
  { name: 'meta', level: 'Metadata' as const, stages: ['ResponseComplete' as const] },
  { name: 'full', level: 'RequestResponse' as const, stages: ['ResponseComplete' as const] },
];
