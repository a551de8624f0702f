/**
 * A lab's receiver in this process, on a real socket, for the receiver and sink tests: started
 * for a test and closed after it, its log lines awaited as they come, and real HTTPS clients.
 */
import { request, type RequestOptions } from 'node:https';
import { afterEach } from 'vitest';
import type { Level, Stage } from '../../src/audit/model.js';
import type { LabHandle } from '../../src/lab/lab.js';
import type { Mode } from '../../src/lab/mode.js';
import type { PemPair } from '../../src/lab/pki.js';
import type { SinkState } from '../../src/lab/state.js';
import { type RunningReceiver, type StartOptions, startLabReceiver } from '../../src/receiver/start.js';
import { tempLab, type TempLab } from './lab.js';
import { GUARD_MS } from './wait.js';

/** Two static sinks at the ends of the level range, both at ResponseComplete. */
export const META_AND_FULL = [
  { name: 'meta', level: 'Metadata' as const, stages: ['ResponseComplete' as const] },
  { name: 'full', level: 'RequestResponse' as const, stages: ['ResponseComplete' as const] },
];

/** Who waits for a line of which log (see `logged`). */
const logWaiters = new WeakMap<string[], Set<() => void>>();

/**
 * The lab's receiver in this process on 127.0.0.1, port 0, watching state.json every 50 ms, each
 * line it logs pushed to `logs` (which `logged` awaits). The caller closes it.
 */
export function startReceiver(
  lab: LabHandle,
  logs: string[],
  o: Omit<StartOptions, 'address' | 'port' | 'log'> = {},
): Promise<RunningReceiver> {
  return startLabReceiver(lab, { address: '127.0.0.1', port: 0, watchIntervalMs: 50, ...o, log: logTo(logs) });
}

/** A receiver's `log` that pushes each line to `logs` and wakes whoever waits for one (`logged`). */
export function logTo(logs: string[]): (line: string) => void {
  return (line) => {
    logs.push(line);
    for (const w of logWaiters.get(logs) ?? []) w();
  };
}

/**
 * Resolves with the first line in `logs` that matches, as soon as the receiver has logged it. The
 * bound only keeps a broken receiver from hanging the suite; nothing is measured.
 */
export function logged(logs: string[], test: RegExp | string, limitMs = GUARD_MS): Promise<string> {
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

export type SinkSpec = { name: string; level: Level; stages: Stage[] };

/** How the fixture starts a receiver: startReceiver's options, on `address` (127.0.0.1) in `mode` (static). */
export type FixtureStart = Omit<StartOptions, 'address' | 'port' | 'log'> & { address?: string; mode?: Mode };

/** The receiver of the current test, once `start` has made it. */
export interface ReceiverFixture {
  /** The lab the receiver serves (set by start). */
  readonly t: TempLab | null;
  readonly r: RunningReceiver | null;
  /** Every line the receiver logged in this test. */
  readonly logs: string[];
  /** Closes the receiver before the test ends (the fixture then leaves it be). */
  close(): Promise<void>;
  /** Makes a lab with `sinks` in `mode` and starts its receiver in this process (startReceiver). */
  start(sinks: SinkSpec[], o?: FixtureStart): Promise<RunningReceiver>;
}

/**
 * The receiver setup the receiver tests share: one lab and receiver per test, closed and removed
 * after it (an afterEach of the calling file), its log kept.
 */
export function receiverFixture(): ReceiverFixture {
  let t: TempLab | null = null;
  let r: RunningReceiver | null = null;
  const logs: string[] = [];
  afterEach(async () => {
    await r?.close();
    r = null;
    await t?.cleanup();
    t = null;
    logs.length = 0;
  });
  return {
    get t() {
      return t;
    },
    get r() {
      return r;
    },
    logs,
    async close() {
      await r?.close();
      r = null;
    },
    async start(sinks, o = {}) {
      const { mode, address, ...rest } = o;
      t = await tempLab(sinks, undefined, mode);
      const where = { address: address ?? '127.0.0.1', port: 0 };
      r = await startLabReceiver(t.lab, { ...where, watchIntervalMs: 50, ...rest, log: logTo(logs) });
      return r;
    },
  };
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

export function sinkOf(lab: LabHandle, name: string): SinkState {
  const s = lab.state.sinks.find((x) => x.name === name);
  if (!s) throw new Error(`no sink ${name}`);
  return s;
}
