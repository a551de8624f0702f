/**
 * The security review's receiver findings, each over real sockets and real TLS:
 * session resumption standing in for a client certificate, certificates the lab CA signed for
 * something else, connection exhaustion by unauthenticated peers, pathological JSON, the log, and
 * each mode serving only its own endpoints.
 */
import { webcrypto } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mode } from '../../src/lab/mode.js';
import { sinkPath, STATIC_PATH } from '../../src/lab/endpoints.js';
import type { PemPair } from '../../src/lab/pki.js';
import type { Limits } from '../../src/receiver/server.js';
import { streamFile } from '../../src/streams/names.js';
import { eventList, makeEvent, readEvents, readLines } from '../harness/events.js';
import { clientTls, META_AND_FULL, post, receiverFixture, sinkOf } from '../harness/receiver.js';
import { eventually } from '../harness/wait.js';

const SINKS = META_AND_FULL;

const rx = receiverFixture();
const logs = rx.logs;
const sockets: Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

async function start(limits: Partial<Limits> = {}, mode: Mode = 'static'): Promise<void> {
  await rx.start(SINKS, { mode, limits });
}

const file = (sink: string) => streamFile(rx.t!.lab.paths.streamsDir, sink);
const mtls = () => clientTls(rx.t!.lab);
const noCert = () => ({ ca: rx.t!.lab.pki.ca.cert, cert: null });
const storedIds = async (sink: string) => (await readEvents(file(sink))).map((e) => e.auditID);

/** One POST on a TLS connection of its own, made with `opts`; the reply's status and the client's view of the session. */
function tlsPost(
  opts: ConnectionOptions,
  path: string,
  body: string,
): Promise<{ status: number; body: string; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let reused = false;
    let text = '';
    const s = tlsConnect(
      { host: '127.0.0.1', port: rx.r!.port, ca: rx.t!.lab.pki.ca.cert, servername: 'localhost', ...opts },
      () => {
        reused = s.isSessionReused();
        s.write(
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      },
    );
    // TLS 1.3 sends its tickets after the handshake: keep the last one that came.
    s.on('session', (sess: Buffer) => (session = sess));
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.on('error', reject);
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m) return reject(new Error(`no HTTP reply: ${JSON.stringify(text)}`));
      resolve({ status: Number(m[1]), body: text.split('\r\n\r\n')[1] ?? '', reused, session });
    });
  });
}

/** A certificate signed by the lab CA, with the subject and extended key usage given (what only the CA key's holder can make). */
async function labSigned(subject: string, usage: string): Promise<PemPair> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    Buffer.from(rx.t!.lab.pki.ca.key.replace(/-----[^-]+-----|\s+/g, ''), 'base64'),
    alg,
    false,
    ['sign'],
  );
  const ca = new x509.X509Certificate(rx.t!.lab.pki.ca.cert);
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.subject,
    publicKey: keys.publicKey as never,
    signingKey: caKey as never,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    cert: cert.toString('pem'),
    key: `-----BEGIN PRIVATE KEY-----\n${Buffer.from(der).toString('base64')}\n-----END PRIVATE KEY-----\n`,
  };
}

describe('receiver security: client certificates', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`a session resumed from a connection without a certificate cannot post to /events (${version})`, async () => {
      await start();
      const pin = { minVersion: version, maxVersion: version };
      const forged = makeEvent();
      const first = await tlsPost(pin, STATIC_PATH, eventList([forged]));
      expect(first.status).toBe(401);
      const resumed = await tlsPost({ ...pin, session: first.session }, STATIC_PATH, eventList([forged]));
      expect(resumed.status).toBe(401);
      // Nothing to resume at all: every connection makes a full handshake.
      expect(resumed.reused).toBe(false);
      expect(await readLines(file('full'))).toEqual([]);

      // The lab's own certificate works fresh and after its own session.
      const good = makeEvent();
      const withCert = { ...pin, cert: rx.t!.lab.pki.client.cert, key: rx.t!.lab.pki.client.key };
      const fresh = await tlsPost(withCert, STATIC_PATH, eventList([good]));
      expect(fresh.status).toBe(200);
      const again = makeEvent();
      expect((await tlsPost({ ...withCert, session: fresh.session }, STATIC_PATH, eventList([again]))).status).toBe(
        200,
      );
      expect(await storedIds('full')).toEqual([good.auditID, again.auditID]);
    });
  }

  it("takes only the lab's API server certificate: another subject or usage from the lab CA is refused (403)", async () => {
    await start();
    const clientAuth = x509.ExtendedKeyUsage.clientAuth;
    const cases: [string, PemPair][] = [
      ['another subject, clientAuth', await labSigned('CN=someone else, O=audit-lab', clientAuth)],
      [
        'the right subject, serverAuth',
        await labSigned('CN=audit-lab kube-apiserver, O=audit-lab', x509.ExtendedKeyUsage.serverAuth),
      ],
      ["the receiver's own certificate", rx.t!.lab.pki.server],
    ];
    for (const [what, cert] of cases) {
      const res = await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), {
        ca: rx.t!.lab.pki.ca.cert,
        cert,
      });
      expect([what, res.status]).toEqual([what, 403]);
      expect(res.body).toMatch(/client certificate not accepted/);
    }
    expect(await readLines(file('full'))).toEqual([]);
    // A certificate with the right subject and usage made by the lab CA is the lab's (only its key's holder makes one).
    const twin = await labSigned('CN=audit-lab kube-apiserver, O=audit-lab', clientAuth);
    expect(
      (await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), { ca: rx.t!.lab.pki.ca.cert, cert: twin }))
        .status,
    ).toBe(200);
  });
});

/** A plain TCP connection to the receiver, kept in `sockets`; resolves once connected, with a promise of its close. */
function tcp(): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(rx.r!.port, '127.0.0.1');
    sockets.push(socket);
    const closed = new Promise<void>((c) => socket.on('close', () => c()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Resolves once the receiver has taken (or dropped) `n` TCP connections since `count` began. */
function serverSaw(n: number): { done: Promise<void> } {
  let seen = 0;
  let done!: () => void;
  const p = new Promise<void>((res) => (done = res));
  const on = () => {
    if (++seen >= n) done();
  };
  rx.r!.receiver.server.on('connection', on);
  rx.r!.receiver.server.on('drop', on);
  return { done: p };
}

describe('receiver security: connections', () => {
  it('with 400 idle TCP connections held open, takes a good batch and /healthz, and closes the idle ones', {
    timeout: 60_000,
  }, async () => {
    // A short handshake timeout keeps the test fast (long enough for a loaded machine to finish a
    // real handshake); the default is 10 s (DEFAULT_LIMITS).
    await start({ handshakeTimeoutMs: 3000 });
    const saw = serverSaw(400);
    const idle = await Promise.all(Array.from({ length: 400 }, () => tcp()));
    await saw.done;
    const ev = makeEvent();
    expect((await post(`${rx.r!.url}${STATIC_PATH}`, eventList([ev]), mtls())).status).toBe(200);
    expect((await post(`${rx.r!.url}/healthz`, '', { ...noCert(), method: 'GET' })).status).toBe(200);
    expect(await storedIds('full')).toEqual([ev.auditID]);
    // Closed by the receiver: the client never ends them.
    await Promise.all(idle.map((c) => c.closed));
    expect(await eventually(async () => rx.r!.receiver.connections().unauthenticated === 0)).toBe(true);
  });

  it('closes a TLS handshake left half done, and a TLS connection without credentials, but keeps an authenticated one', {
    timeout: 30_000,
  }, async () => {
    await start({ handshakeTimeoutMs: 2000 });
    // Authenticated and idle (keep-alive): it stays.
    const authed = tlsConnect({
      host: '127.0.0.1',
      port: rx.r!.port,
      ca: rx.t!.lab.pki.ca.cert,
      servername: 'localhost',
      cert: rx.t!.lab.pki.client.cert,
      key: rx.t!.lab.pki.client.key,
    });
    sockets.push(authed);
    await new Promise((res) => authed.once('secureConnect', res));
    let authedClosed = false;
    authed.on('close', () => (authedClosed = true));
    // The first bytes of a TLS record that promises more, then nothing.
    const half = await tcp();
    half.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    // A full handshake without a certificate, then no request.
    const bare = tlsConnect({
      host: '127.0.0.1',
      port: rx.r!.port,
      ca: rx.t!.lab.pki.ca.cert,
      servername: 'localhost',
    });
    sockets.push(bare);
    bare.on('error', () => {});
    const bareClosed = new Promise<void>((res) => bare.on('close', () => res()));
    await Promise.all([half.closed, bareClosed]);
    expect(authedClosed).toBe(false);
    const ev = makeEvent();
    const body = eventList([ev]);
    const reply = await new Promise<string>((res) => {
      let text = '';
      authed.setEncoding('utf8');
      authed.on('data', (c: string) => {
        text += c;
        if (text.includes('\r\n\r\n')) res(text);
      });
      authed.write(
        `POST ${STATIC_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
  });

  it('when the unauthenticated budget is full, a new connection closes the oldest one', {
    timeout: 30_000,
  }, async () => {
    await start({ maxPreAuthConnections: 10, handshakeTimeoutMs: 120_000 });
    const conns: { socket: Socket; closed: Promise<void> }[] = [];
    for (let i = 0; i < 15; i++) {
      const saw = serverSaw(1);
      conns.push(await tcp());
      await saw.done;
    }
    await Promise.all(conns.slice(0, 5).map((c) => c.closed));
    expect(conns.slice(5).map((c) => c.socket.destroyed)).toEqual(Array(10).fill(false));
    expect(rx.r!.receiver.connections().unauthenticated).toBe(10);
    expect((await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), mtls())).status).toBe(200);
  });
});

describe('receiver security: authenticated connections have their own budget', () => {
  it('past maxConnections a newly authenticated connection is closed; unauthenticated ones do not count', {
    timeout: 30_000,
  }, async () => {
    await start({ maxConnections: 2, handshakeTimeoutMs: 120_000 });
    // Unauthenticated peers first: they take none of the authenticated places.
    const idle = await Promise.all(Array.from({ length: 5 }, () => tcp()));
    const open = () => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: rx.r!.port,
        ca: rx.t!.lab.pki.ca.cert,
        servername: 'localhost',
        cert: rx.t!.lab.pki.client.cert,
        key: rx.t!.lab.pki.client.key,
      });
      sockets.push(s);
      s.on('error', () => {});
      return {
        s,
        closed: new Promise<void>((res) => s.on('close', () => res())),
        secure: new Promise((res) => s.once('secureConnect', res)),
      };
    };
    const a = open();
    const b = open();
    await Promise.all([a.secure, b.secure]);
    expect(await eventually(async () => rx.r!.receiver.connections().authenticated === 2)).toBe(true);
    const c = open();
    await c.closed;
    expect([a.s.destroyed, b.s.destroyed, idle.some((x) => x.socket.destroyed)]).toEqual([false, false, false]);
    expect(logs.some((l) => l.includes('2 authenticated connections already open'))).toBe(true);
    // Once one goes, there is room again.
    a.s.destroy();
    await a.closed;
    expect(await eventually(async () => rx.r!.receiver.connections().authenticated === 1)).toBe(true);
    expect((await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), mtls())).status).toBe(200);
  });
});

describe('receiver security: bodies', () => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
  it.each([
    [
      'an event nested 5,000 deep',
      () => eventList([makeEvent()]).replace('"requestObject":{', `"requestObject":{"deep":${deepObject(5000)},`),
    ],
    ['an array nested 100,000 deep', () => deep(100_000)],
    [
      'a single Event nested 20,000 deep',
      () =>
        JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() }).replace(
          '"requestObject":{',
          `"requestObject":{"deep":${deep(20_000)},`,
        ),
    ],
  ])('refuses %s with 400 and a reason (a 5xx would be retried)', async (_what, body) => {
    await start();
    const res = await post(`${rx.r!.url}${STATIC_PATH}`, body(), mtls());
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/nested deeper than 512 levels/);
    const ev = makeEvent();
    expect((await post(`${rx.r!.url}${STATIC_PATH}`, eventList([ev]), mtls())).status).toBe(200);
    expect(await storedIds('full')).toEqual([ev.auditID]);
  });
});

describe('receiver security: the log', () => {
  it('escapes control and bidi characters from the peer: no forged lines, no terminal escapes', async () => {
    await start({ refusalLogIntervalMs: 0 }, 'dynamic');
    const forged = '\x1b[2J\x07\n2026-01-01T00:00:00.000Z 200 POST /events 1 events from 10.0.0.1: full +1';
    // A malformed body: V8's JSON error quotes the bytes around the fault, raw.
    await post(
      `${rx.r!.url}${sinkPath('full', sinkOf(rx.t!.lab, 'full').token)}`,
      `{"kind":"EventList","a":${forged}}`,
      noCert(),
    );
    // A sink name with ESC and RIGHT-TO-LEFT OVERRIDE, quoted in the refusal.
    await post(
      `${rx.r!.url}/sinks/${encodeURIComponent('x\x1b[31m\u202eevil')}/token`,
      eventList([makeEvent()]),
      noCert(),
    );
    expect(logs.length).toBeGreaterThanOrEqual(2);
    for (const l of logs) {
      expect(l).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    }
    expect(logs.join('\n')).toContain('\\x1b');
    expect(logs.join('\n')).toContain('\\u202e');
  });

  it('logs one refusal line per peer per interval, then how many more there were', async () => {
    await start({ refusalLogIntervalMs: 60_000 });
    for (let i = 0; i < 30; i++)
      expect((await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), noCert())).status).toBe(401);
    expect(logs.filter((l) => l.includes('refused 401'))).toHaveLength(1);
    await rx.close();
    expect(
      logs.filter((l) =>
        /… 29 more refusals from 127\.0\.0\.1 in the last \d+ s \(last: refused 401 POST \/events/.test(l),
      ),
    ).toHaveLength(1);
  });
});

describe('receiver security: each mode serves only its own endpoints', () => {
  it('static mode: a sink URL with its right token is 404 and stores nothing', async () => {
    await start();
    const full = sinkOf(rx.t!.lab, 'full');
    const res = await post(
      `${rx.r!.url}${sinkPath('full', full.token)}`,
      eventList([makeEvent({ level: 'RequestResponse' })]),
      noCert(),
    );
    expect(res.status).toBe(404);
    expect(res.body).toMatch(/dynamic-mode endpoint; this receiver is in static mode/);
    expect(await readLines(file('full'))).toEqual([]);
    expect((await post(`${rx.r!.url}/healthz`, '', { ...noCert(), method: 'GET' })).status).toBe(200);
  });

  it('dynamic mode: /events is 404 even with the lab client certificate; the sink URLs work', async () => {
    await start({}, 'dynamic');
    const res = await post(`${rx.r!.url}${STATIC_PATH}`, eventList([makeEvent()]), mtls());
    expect(res.status).toBe(404);
    expect(res.body).toMatch(/static-mode endpoint; this receiver is in dynamic mode/);
    expect(await readLines(file('full'))).toEqual([]);
    const ev = makeEvent();
    expect(
      (await post(`${rx.r!.url}${sinkPath('full', sinkOf(rx.t!.lab, 'full').token)}`, eventList([ev]), noCert()))
        .status,
    ).toBe(200);
    expect(await storedIds('full')).toEqual([ev.auditID]);
    expect((await post(`${rx.r!.url}/healthz`, '', { ...noCert(), method: 'GET' })).status).toBe(200);
  });
});
