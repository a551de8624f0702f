import { connect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mode } from '../../src/lab/mode.js';
import { writeState } from '../../src/lab/state.js';
import { newSinkState } from '../../src/lab/state.js';
import { createPki } from '../../src/lab/pkiIssuer.js';
import { sinkPath, STATIC_PATH } from '../../src/lab/endpoints.js';
import type { RunningReceiver } from '../../src/receiver/start.js';
import type { Limits } from '../../src/receiver/server.js';
import { streamFile } from '../../src/streams/names.js';
import { eventList, makeEvent, readEvents, readLines } from '../harness/events.js';
import type { TempLab } from '../harness/lab.js';
import { clientTls, logged, post, receiverFixture, sinkOf } from '../harness/receiver.js';

const SINKS = [
  { name: 'meta', level: 'Metadata' as const, stages: ['ResponseComplete' as const] },
  { name: 'req', level: 'Request' as const, stages: ['RequestReceived' as const, 'ResponseComplete' as const] },
  { name: 'full', level: 'RequestResponse' as const, stages: ['ResponseComplete' as const, 'Panic' as const] },
];

const rx = receiverFixture();
const logs = rx.logs;

async function start(
  limits: Partial<Limits> = {},
  sinks = SINKS,
  mode: Mode = 'static',
): Promise<{ t: TempLab; r: RunningReceiver }> {
  // Every refusal logged (no per-peer rate limit): these tests count them.
  const all = { maxBodyBytes: 256 * 1024, requestTimeoutMs: 5000, refusalLogIntervalMs: 0, ...limits };
  const r = await rx.start(sinks, { mode, limits: all });
  return { t: rx.t!, r };
}

const file = (sink: string) => streamFile(rx.t!.lab.paths.streamsDir, sink);
const mtls = () => clientTls(rx.t!.lab);
const staticUrl = () => `${rx.r!.url}${STATIC_PATH}`;

/** IDs acknowledged so far for the static endpoint with ResponseComplete events (all three sinks take them). */
let acked: string[] = [];

async function postGood(n = 3): Promise<string[]> {
  const evs = Array.from({ length: n }, () => makeEvent());
  const res = await post(staticUrl(), eventList(evs), mtls());
  expect(res).toEqual({ status: 200, body: 'ok\n' });
  const ids = evs.map((e) => e.auditID as string);
  acked.push(...ids);
  return ids;
}

/** The receiver still takes good batches and every earlier acknowledged event is there exactly once. */
async function stillGood(): Promise<void> {
  await postGood();
  for (const sink of ['meta', 'full']) {
    const ids = (await readEvents(file(sink))).map((e) => e.auditID);
    expect(ids).toEqual(acked);
  }
}

afterEach(() => {
  acked = [];
});

describe('receiver: auth', () => {
  it('answers /healthz without a client certificate', async () => {
    await start();
    const res = await post(`${rx.r!.url}/healthz`, '', { ca: rx.t!.lab.pki.ca.cert, cert: null, method: 'GET' });
    expect(res).toEqual({ status: 200, body: 'ok\n' });
  });

  it('accepts the lab client certificate on /events, and logs each batch with its size in bytes', async () => {
    await start();
    await stillGood();
    expect(logs.some((l) => / 200 POST \/events 3 events/.test(l))).toBe(true);
    // What the API server sent, byte for byte: how a lab's capture is weighed.
    const body = eventList([makeEvent({ auditID: 'sized' })]);
    expect((await post(staticUrl(), body, mtls())).status).toBe(200);
    expect(logs.some((l) => l.includes(` 200 POST /events 1 events in ${Buffer.byteLength(body)} bytes from `))).toBe(
      true,
    );
  });

  it('refuses /events without a client certificate (401) and with one from another CA (403)', async () => {
    await start();
    await postGood();
    const none = await post(staticUrl(), eventList([makeEvent()]), { ca: rx.t!.lab.pki.ca.cert, cert: null });
    expect(none.status).toBe(401);
    const other = await createPki('other', ['127.0.0.1']);
    const foreign = await post(staticUrl(), eventList([makeEvent()]), {
      ca: rx.t!.lab.pki.ca.cert,
      cert: other.client,
    });
    expect(foreign.status).toBe(403);
    // The server certificate is not a client certificate either.
    const server = await post(staticUrl(), eventList([makeEvent()]), {
      ca: rx.t!.lab.pki.ca.cert,
      cert: rx.t!.lab.pki.server,
    });
    expect([401, 403]).toContain(server.status);
    expect(logs.filter((l) => / refused 40[13] POST \/events/.test(l)).length).toBeGreaterThanOrEqual(2);
    await stillGood();
  });

  it('takes a sink endpoint with its token (dynamic mode), writes only to that sink, as received', async () => {
    await start({}, SINKS, 'dynamic');
    const req = sinkOf(rx.t!.lab, 'req');
    const ev = makeEvent({ stage: 'Panic' }); // a stage and level sink "req" would not take in static mode
    const res = await post(`${rx.r!.url}${sinkPath('req', req.token)}`, eventList([ev]), {
      ca: rx.t!.lab.pki.ca.cert,
      cert: null,
    });
    expect(res.status).toBe(200);
    const stored = await readEvents(file('req'));
    expect(stored).toEqual([{ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...ev }]);
    expect(await readLines(file('meta'))).toEqual([]);
    expect(await readLines(file('full'))).toEqual([]);
  });

  it('refuses a wrong token (403), an unknown sink (404), another path (404), and never logs the token (dynamic mode)', async () => {
    await start({}, SINKS, 'dynamic');
    const full = sinkOf(rx.t!.lab, 'full');
    const opts = { ca: rx.t!.lab.pki.ca.cert, cert: null };
    const body = eventList([makeEvent()]);
    expect((await post(`${rx.r!.url}${sinkPath('full', `${full.token.slice(0, -1)}x`)}`, body, opts)).status).toBe(403);
    expect((await post(`${rx.r!.url}${sinkPath('full', 'short')}`, body, opts)).status).toBe(403);
    expect((await post(`${rx.r!.url}${sinkPath('nope', full.token)}`, body, opts)).status).toBe(404);
    expect((await post(`${rx.r!.url}/sinks/full`, body, opts)).status).toBe(404);
    expect((await post(`${rx.r!.url}/`, body, mtls())).status).toBe(404);
    expect((await post(`${rx.r!.url}${sinkPath('full', full.token)}`, '', { ...opts, method: 'GET' })).status).toBe(
      405,
    );
    expect(logs.join('\n')).not.toContain(full.token.slice(0, 20));
    expect(await readLines(file('full'))).toEqual([]);
    expect((await post(`${rx.r!.url}${sinkPath('full', full.token)}`, body, opts)).status).toBe(200);
  });

  it('answers GET on /events with 405 (static mode)', async () => {
    await start();
    expect((await post(`${rx.r!.url}${STATIC_PATH}`, '', { ...mtls(), method: 'GET' })).status).toBe(405);
  });
});

describe('receiver: bodies', () => {
  it('applies each sink to a v1 EventList (static mode)', async () => {
    await start();
    const rr = makeEvent({ stage: 'ResponseComplete' });
    const received = makeEvent({ stage: 'RequestReceived', level: 'Request' });
    const panic = makeEvent({ stage: 'Panic' });
    expect((await post(staticUrl(), eventList([rr, received, panic]), mtls())).status).toBe(200);
    const meta = await readEvents(file('meta'));
    expect(meta.map((e) => [e.auditID, e.level, 'requestObject' in e, 'responseObject' in e])).toEqual([
      [rr.auditID, 'Metadata', false, false],
    ]);
    const req = await readEvents(file('req'));
    expect(req.map((e) => [e.auditID, e.level, 'requestObject' in e, 'responseObject' in e])).toEqual([
      [rr.auditID, 'Request', true, false],
      [received.auditID, 'Request', true, false],
    ]);
    const full = await readEvents(file('full'));
    expect(full).toEqual([rr, panic].map((e) => ({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...e })));
    for (const sink of ['meta', 'req', 'full']) {
      for (const l of await readLines(file(sink)))
        expect(l.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1",')).toBe(true);
    }
  });

  it('converts a v1beta1 EventList to v1', async () => {
    await start();
    const ev = { ...makeEvent(), timestamp: '2020-01-01T00:00:00Z', metadata: { creationTimestamp: null } };
    expect((await post(staticUrl(), eventList([ev], 'audit.k8s.io/v1beta1'), mtls())).status).toBe(200);
    const [stored] = await readEvents(file('full'));
    expect(stored!.apiVersion).toBe('audit.k8s.io/v1');
    expect(stored).not.toHaveProperty('timestamp');
    expect(stored).not.toHaveProperty('metadata');
    acked.push(ev.auditID as string);
    await stillGood();
  });

  it('takes a single Event and a JSON array', async () => {
    await start();
    const one = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() };
    expect((await post(staticUrl(), JSON.stringify(one), mtls())).status).toBe(200);
    const a = makeEvent();
    const b = makeEvent();
    const arr = JSON.stringify([
      JSON.parse(eventList([a])),
      { kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', ...b },
    ]);
    expect((await post(staticUrl(), arr, mtls())).status).toBe(200);
    expect((await readEvents(file('full'))).map((e) => e.auditID)).toEqual([one.auditID, a.auditID, b.auditID]);
  });

  it('stores a retried batch once', async () => {
    await start();
    const body = eventList([makeEvent(), makeEvent()]);
    expect((await post(staticUrl(), body, mtls())).status).toBe(200);
    expect((await post(staticUrl(), body, mtls())).status).toBe(200);
    expect(await readLines(file('full'))).toHaveLength(2);
    expect(logs.some((l) => l.includes('full +0 (2 dup)'))).toBe(true);
  });

  it.each([
    ['malformed JSON', '{"kind":"EventList","items":[', 'application/json', 400, /malformed JSON/],
    [
      'wrong kind',
      JSON.stringify({ kind: 'PodList', apiVersion: 'v1', items: [] }),
      'application/json',
      400,
      /kind "PodList"/,
    ],
    [
      'a bad item',
      eventList([makeEvent(), { ...makeEvent(), stage: 'Later' }]),
      'application/json',
      400,
      /items\[1\]: stage "Later"/,
    ],
    ['wrong content type', eventList([makeEvent()]), 'text/plain', 415, /content type "text\/plain"/],
    ['no content type', eventList([makeEvent()]), null, 415, /content type ""/],
  ])(
    'refuses %s with a reason, stores nothing of it, and goes on',
    async (_what, body, contentType, status, reason) => {
      await start();
      await postGood();
      const res = await post(staticUrl(), body, { ...mtls(), contentType });
      expect(res.status).toBe(status);
      expect(res.body).toMatch(reason);
      expect(res.body.trimEnd()).not.toContain('\n');
      expect(logs.some((l) => l.includes(`refused ${status}`) && reason.test(l))).toBe(true);
      await stillGood();
    },
  );

  it('refuses an oversized body (413) declared or streamed', async () => {
    await start({ maxBodyBytes: 64 * 1024 });
    await postGood();
    const big = eventList(Array.from({ length: 200 }, () => makeEvent()));
    expect(big.length).toBeGreaterThan(64 * 1024);
    const res = await post(staticUrl(), big, mtls());
    expect(res.status).toBe(413);
    // Chunked: no Content-Length to refuse up front, so the limit must hold while reading.
    const streamed = await rawRequest((s) => {
      s.write(
        `POST ${STATIC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = big.slice(0, 32 * 1024);
      for (let i = 0; i < 4; i++) s.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    }, true);
    expect(streamed.response.startsWith('HTTP/1.1 413') || streamed.response === '').toBe(true);
    expect(logs.filter((l) => l.includes('refused 413')).length).toBe(2);
    expect(await readLines(file('full'))).toHaveLength(acked.length);
    await stillGood();
  });

  it('refuses a truncated body (less than Content-Length, then the client ends)', async () => {
    await start();
    await postGood();
    const body = eventList([makeEvent(), makeEvent()]);
    const res = await rawRequest((s) => {
      s.write(
        `POST ${STATIC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
      s.end(body.slice(0, 300));
    });
    expect(res.response === '' || /^HTTP\/1.1 400/.test(res.response)).toBe(true);
    await logged(logs, /refused 400 POST \/events .*truncated body: connection ended after 300 of/);
    await stillGood();
  });

  it('cuts a client whose body trickles', async () => {
    await start({ requestTimeoutMs: 400 });
    await postGood();
    const body = eventList([makeEvent()]);
    let sent = 0;
    const res = await rawRequest((s) => {
      s.write(
        `POST ${STATIC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
      const timer = setInterval(() => {
        if (s.destroyed || !s.writable || sent >= body.length - 1) return clearInterval(timer);
        s.write(body[sent++]!);
      }, 20);
      s.on('close', () => clearInterval(timer));
    });
    // Never completed: the server hung up first (with a 408 when it could still say so).
    expect(sent).toBeLessThan(body.length - 1);
    expect(res.response === '' || /^HTTP\/1.1 408/.test(res.response)).toBe(true);
    expect(logs.some((l) => l.includes('refused 408') || l.includes('request timed out'))).toBe(true);
    await stillGood();
  });

  it('takes 200 concurrent posts and stores every event once', async () => {
    await start();
    const batches = Array.from({ length: 200 }, () => Array.from({ length: 5 }, () => makeEvent()));
    const replies = await Promise.all(batches.map((b) => post(staticUrl(), eventList(b), mtls())));
    expect(replies.map((x) => x.status)).toEqual(batches.map(() => 200));
    for (const sink of ['meta', 'req', 'full']) {
      const ids = (await readEvents(file(sink))).map((e) => e.auditID);
      expect(ids).toHaveLength(1000);
      expect(new Set(ids)).toEqual(new Set(batches.flat().map((e) => e.auditID)));
    }
  });

  it('picks up a sink added to state.json while running', async () => {
    const { t: lab } = await start();
    lab.lab.state.sinks.push(
      newSinkState({ name: 'late', level: 'Metadata', stages: ['ResponseComplete'], throttle: { qps: 10, burst: 15 } }),
    );
    await writeState(lab.lab.paths, lab.lab.state);
    await logged(logs, /state changed: .*late \(Metadata/);
    const [id] = await postGood(1);
    expect((await readEvents(file('late'))).map((e) => e.auditID)).toEqual([id]);
  });

  it('takes up a sink added to state.json before the next batch, whatever its poll (a request made after sink create reaches it)', async () => {
    await rx.start(SINKS, { watchIntervalMs: 3_600_000 });
    const t = rx.t!;
    t.lab.state.sinks.push(
      newSinkState({ name: 'soon', level: 'Metadata', stages: ['ResponseComplete'], throttle: { qps: 10, burst: 15 } }),
    );
    await writeState(t.lab.paths, t.lab.state);
    const [id] = await postGood(1);
    expect((await readEvents(file('soon'))).map((e) => e.auditID)).toEqual([id]);
  });

  it('serves the endpoint of a sink added to state.json while running (dynamic mode)', async () => {
    const { t: lab } = await start({}, SINKS, 'dynamic');
    lab.lab.state.sinks.push(
      newSinkState({ name: 'late', level: 'Metadata', stages: ['ResponseComplete'], throttle: { qps: 10, burst: 15 } }),
    );
    await writeState(lab.lab.paths, lab.lab.state);
    const late = lab.lab.state.sinks.find((s) => s.name === 'late')!;
    const url = `${rx.r!.url}${sinkPath('late', late.token)}`;
    await logged(logs, /state changed: .*late \(Metadata/);
    expect((await post(url, eventList([makeEvent()]), { ca: lab.lab.pki.ca.cert, cert: null })).status).toBe(200);
  });

  it('answers 5xx when the batch cannot be written, and stores it on retry', async () => {
    await start();
    await postGood();
    const store = rx.r!.store;
    const original = store.write.bind(store);
    store.write = async () => {
      throw new Error('disk full (simulated)');
    };
    const body = eventList([makeEvent()]);
    const failed = await post(staticUrl(), body, mtls());
    expect(failed.status).toBe(500);
    expect(failed.body).toContain('disk full');
    store.write = original;
    expect((await post(staticUrl(), body, mtls())).status).toBe(200);
    expect(await readLines(file('full'))).toHaveLength(acked.length + 1);
  });
});

/** A raw TLS connection with the lab's client certificate: for bodies no well-behaved client sends. */
function rawRequest(
  drive: (s: ReturnType<typeof connect>) => void,
  endAfterWrite = false,
): Promise<{ response: string }> {
  return new Promise((resolve) => {
    const s = connect(
      {
        host: '127.0.0.1',
        port: rx.r!.port,
        ca: rx.t!.lab.pki.ca.cert,
        cert: rx.t!.lab.pki.client.cert,
        key: rx.t!.lab.pki.client.key,
        servername: 'localhost',
      },
      () => {
        drive(s);
        if (endAfterWrite) s.end();
      },
    );
    let response = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (response += c));
    s.on('error', () => {});
    s.on('close', () => resolve({ response }));
  });
}
