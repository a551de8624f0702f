import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder, TokenBucket } from '../../src/receiver/forward.js';
import type { LabPki } from '../../src/lab/pki.js';
import { createPki } from '../../src/lab/pkiIssuer.js';

let pki: LabPki;
beforeAll(async () => {
  pki = await createPki('forward-test', ['127.0.0.1']);
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Endpoint {
  url: string;
  bodies: { kind: string; apiVersion: string; items: { auditID: string }[] }[];
  /** Answers with this status while > 0 requests remain to fail. */
  failNext: number;
  server: Server;
  /** Resolves once `n` batches have been taken. */
  received(n: number): Promise<void>;
}

async function endpoint(): Promise<Endpoint> {
  const ep = { bodies: [], failNext: 0 } as unknown as Endpoint;
  let took = () => {};
  ep.received = (n) =>
    new Promise((resolve) => {
      took = () => ep.bodies.length >= n && resolve();
      took();
    });
  ep.server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (ep.failNext > 0) {
        ep.failNext--;
        res.writeHead(503).end('busy');
        return;
      }
      expect(req.headers['content-type']).toBe('application/json');
      ep.bodies.push(JSON.parse(body));
      took();
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => ep.server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => ep.server.close(r)));
  ep.url = `https://127.0.0.1:${(ep.server.address() as AddressInfo).port}/audit`;
  return ep;
}

/** Events of one size as JSON (ids of one length), so a byte bound is a number of them. */
const events = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    auditID: `id-${String(from + i).padStart(4, '0')}`,
    stage: 'ResponseComplete',
  }));
const EVENT_BYTES = Buffer.byteLength(JSON.stringify(events(1)[0]));

describe('TokenBucket', () => {
  it('allows a burst, then qps per second', () => {
    let t = 0;
    const b = new TokenBucket(2, 3, () => t);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    expect(b.delayMs()).toBeCloseTo(500);
    t = 499;
    expect(b.take()).toBe(false);
    t = 500;
    expect(b.take()).toBe(true);
    t = 10_000;
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });
});

describe('Forwarder', () => {
  it('sends EventList batches of at most batchMax events, in order, over HTTPS', async () => {
    const ep = await endpoint();
    const f = new Forwarder({
      url: ep.url,
      throttle: { qps: 1000, burst: 1000 },
      ca: pki.ca.cert,
      batchMax: 400,
      maxWaitMs: 20,
    });
    f.push(events(1000));
    const stats = await f.close(10_000);
    expect(stats).toMatchObject({ sent: 1000, dropped: 0, batches: 3 });
    expect(ep.bodies.map((b) => b.items.length)).toEqual([400, 400, 200]);
    expect(ep.bodies[0]).toMatchObject({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1' });
    expect(ep.bodies.flatMap((b) => b.items.map((e) => e.auditID))).toEqual(events(1000).map((e) => e.auditID));
  });

  it('holds batches back to the throttle: with burst 1 and a slow qps only one batch goes out at once', async () => {
    const ep = await endpoint();
    const f = new Forwarder({
      url: ep.url,
      throttle: { qps: 0.5, burst: 1 },
      ca: pki.ca.cert,
      batchMax: 10,
      maxWaitMs: 1,
    });
    f.push(events(30));
    await ep.received(1);
    // The next token is 2 s away: nothing more may go out meanwhile. A window is the only way to
    // see that nothing happens; the Forwarder has no clock to stop nor a sign that it waits.
    await new Promise((r) => setTimeout(r, 200));
    expect(ep.bodies.length).toBe(1);
    const stats = await f.close(0);
    expect(stats.sent).toBe(10);
    expect(stats.dropped).toBe(20);
  });

  it('retries a failing endpoint with backoff and delivers once it answers', async () => {
    const ep = await endpoint();
    ep.failNext = 2;
    const logs: string[] = [];
    const f = new Forwarder({
      url: ep.url,
      throttle: { qps: 100, burst: 100 },
      ca: pki.ca.cert,
      maxWaitMs: 1,
      initialBackoffMs: 10,
      log: (l) => logs.push(l),
    });
    f.push(events(5));
    const stats = await f.close(10_000);
    expect(stats).toMatchObject({ sent: 5, failedTries: 2, dropped: 0 });
    expect(ep.bodies).toHaveLength(1);
    expect(logs.filter((l) => l.includes('HTTP 503'))).toHaveLength(2);
  });

  it('gives up after its tries on an endpoint that is down, counts the loss, and never blocks push', async () => {
    const ep = await endpoint();
    const url = ep.url;
    await new Promise((r) => ep.server.close(r));
    const f = new Forwarder({
      url,
      throttle: { qps: 100, burst: 100 },
      ca: pki.ca.cert,
      maxWaitMs: 1,
      initialBackoffMs: 5,
      tries: 3,
      backlogBytes: 50 * EVENT_BYTES,
    });
    expect(f.push(events(40))).toBe(0);
    expect(f.push(events(40, 40))).toBe(30); // the backlog holds 50 at most; push returns at once
    expect(f.snapshot()).toMatchObject({ backlogEvents: 50, backlogBytes: 50 * EVENT_BYTES, dropped: 30 });
    const stats = await f.close(10_000);
    expect(stats.sent).toBe(0);
    expect(stats.dropped).toBe(80);
    expect(stats.failedTries).toBeGreaterThanOrEqual(3);
    // Each batch: 3 tries, the last 2 of them retries.
    expect(stats.retries).toBe((stats.failedTries / 3) * 2);
    expect(stats.lastError?.message).toMatch(/ECONNREFUSED/);
    expect(Number.isNaN(Date.parse(stats.lastError!.at))).toBe(false);
  });

  it('refuses an endpoint whose certificate it does not trust', async () => {
    const ep = await endpoint();
    const other = await createPki('other', ['127.0.0.1']);
    const logs: string[] = [];
    const f = new Forwarder({
      url: ep.url,
      throttle: { qps: 100, burst: 100 },
      ca: other.ca.cert,
      maxWaitMs: 1,
      initialBackoffMs: 1,
      tries: 1,
      log: (l) => logs.push(l),
    });
    f.push(events(1));
    const stats = await f.close(5000);
    expect(stats).toMatchObject({ sent: 0, dropped: 1 });
    expect(ep.bodies).toHaveLength(0);
    expect(logs.join('\n')).toMatch(/certificate|self-signed|unable to verify/i);
  });
});
