/**
 * A forwarding sink whose endpoint does not answer: the receiver keeps storing, the forwarder's
 * backlog stays within its byte bound by dropping the oldest events it holds (and counting them),
 * and once the endpoint answers what is still held goes out in order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { ensureLab } from '../../src/lab/lab.js';
import { labPaths } from '../../src/lab/paths.js';
import { createPki } from '../../src/lab/pkiIssuer.js';
import { newSinkState, writeState } from '../../src/lab/state.js';
import { streamFile } from '../../src/streams/names.js';
import { auditEvent, eventList, readLines } from '../harness/events.js';
import { testDir } from '../harness/lab.js';
import { post, startReceiver } from '../harness/receiver.js';
import { eventually } from '../harness/wait.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const MiB = 1024 * 1024;
const BLOB = 'x'.repeat(MiB);

/** A RequestResponse event of a little over 1 MiB; ids of one length make every event the same size. */
function bigEvent(id: string): Record<string, unknown> {
  const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: id }, data: { blob: BLOB } };
  return auditEvent({
    level: 'RequestResponse',
    auditID: id,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/configmaps',
    verb: 'create',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['127.0.0.1'],
    objectRef: { resource: 'configmaps', namespace: 'default', name: id, apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 201 },
    requestObject: cm,
    requestReceivedTimestamp: '2026-11-26T10:00:00.000000Z',
    stageTimestamp: '2026-11-26T10:00:00.003000Z',
  });
}

interface Item {
  auditID: string;
}

/**
 * An HTTPS endpoint on loopback that holds every request unanswered until `open()`; then it
 * answers those and every later one with 200, keeping the bodies in the order it took them.
 */
async function silentEndpoint(pki: Awaited<ReturnType<typeof createPki>>) {
  const held: { body: string; res: ServerResponse }[] = [];
  const items: { item: Item; bytes: number }[] = [];
  let answering = false;
  let poke = () => {};
  const take = (body: string, res: ServerResponse) => {
    // Each item's size as JSON, to hold the forwarder's byte count to what went over the wire.
    for (const item of (JSON.parse(body) as { items: Item[] }).items)
      items.push({ item, bytes: Buffer.byteLength(JSON.stringify(item)) });
    res.writeHead(200).end();
  };
  const server = createServer({ cert: pki.server.cert, key: pki.server.key }, (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (answering) take(body, res);
      else held.push({ body, res });
      poke();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      poke = () => check() && resolve();
      poke();
    });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/audit`,
    items,
    /** Resolves once `n` requests wait unanswered. */
    holding: (n: number) => until(() => held.length >= n),
    /** Resolves once `n` events have been taken in all. */
    received: (n: number) => until(() => items.length >= n),
    open() {
      answering = true;
      for (const h of held.splice(0)) take(h.body, h.res);
      poke();
    },
  };
}

describe('forwarding backlog', () => {
  it('stays within its byte bound while the endpoint is silent, counts what it drops, and sends the rest in order once it answers', async () => {
    const dir = await testDir();
    const paths = labPaths(join(dir, 'home'), 'audit-lab');
    const endpointPki = await createPki('endpoint', ['127.0.0.1']);
    const endpoint = await silentEndpoint(endpointPki);
    const lab0 = await ensureLab(paths);
    await writeState(paths, {
      ...lab0.state,
      sinks: [
        newSinkState({
          name: 'out',
          level: 'RequestResponse',
          stages: ['ResponseComplete'],
          throttle: { qps: 100, burst: 100 },
          url: endpoint.url,
        }),
      ],
    });
    await ensurePrivateDir(paths.streamsDir);
    const lab = await ensureLab(paths);
    const bound = 8 * MiB;
    const recv = await startReceiver(lab, [], {
      forward: { forwardCa: endpointPki.ca.cert, forwardBacklogBytes: bound },
    });
    cleanups.push(() => recv.close());
    const send = async (id: string) => {
      const reply = await post(`${recv.url}${STATIC_PATH}`, eventList([bigEvent(id)]), {
        ca: lab.pki.ca.cert,
        cert: lab.pki.client,
      });
      expect(reply.status).toBe(200);
    };
    const out = () => recv.forwarding().find((f) => f.sink === 'out')!;
    const ids = Array.from({ length: 21 }, (_, i) => `e-${String(i).padStart(2, '0')}`);

    // The first event alone is the batch in flight, held by the silent endpoint.
    await send(ids[0]!);
    await endpoint.holding(1);
    const size = out().backlogBytes;
    expect(out()).toMatchObject({ backlogEvents: 1, dropped: 0, backlogLimitBytes: bound });
    expect(size).toBeGreaterThan(MiB);

    for (const id of ids.slice(1)) {
      await send(id);
      expect(out().backlogBytes).toBeLessThanOrEqual(bound);
    }
    // The batch in flight stays; the queue keeps the newest events that fit beside it.
    const kept = Math.floor((bound - size) / size);
    const dropped = ids.length - 1 - kept;
    expect(kept).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(kept);
    const f = out();
    expect(f).toMatchObject({ backlogEvents: 1 + kept, backlogBytes: (1 + kept) * size, dropped, sent: 0 });
    expect(f.peakBytes).toBeLessThanOrEqual(bound);
    // Nothing is lost locally: the sink's stream has every event.
    expect(await readLines(streamFile(paths.streamsDir, 'out'))).toHaveLength(ids.length);

    endpoint.open();
    await endpoint.received(1 + kept);
    expect(endpoint.items.map((x) => x.item.auditID)).toEqual([ids[0], ...ids.slice(ids.length - kept)]);
    expect(endpoint.items.every((x) => x.bytes === size)).toBe(true);
    expect(await eventually(() => out().backlogEvents === 0)).toBe(true);
    expect(out()).toMatchObject({ backlogBytes: 0, sent: 1 + kept, dropped, lastError: null });
  });
});
