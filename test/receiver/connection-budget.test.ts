/**
 * The connection budgets (src/receiver/connections.ts) over real sockets and real TLS: each
 * connection has its own place whatever its addresses, and in dynamic mode no sink's token takes
 * every authenticated place.
 */
import type { TcpNetConnectOpts } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mode } from '../../src/lab/mode.js';
import { sinkPath } from '../../src/lab/endpoints.js';
import type { Limits } from '../../src/receiver/server.js';
import { streamFile } from '../../src/streams/names.js';
import { eventList, makeEvent, readEvents } from '../harness/events.js';
import { META_AND_FULL, receiverFixture, sinkOf } from '../harness/receiver.js';
import { eventually } from '../harness/wait.js';

const rx = receiverFixture();
const logs = rx.logs;
const sockets: TLSSocket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** Http timeouts far beyond the test, so only the guard's handshake timeout closes an idle connection. */
const QUIET: Partial<Limits> = { headersTimeoutMs: 600_000, requestTimeoutMs: 600_000, keepAliveTimeoutMs: 600_000 };

async function start(address: string, limits: Partial<Limits>, mode: Mode = 'static'): Promise<void> {
  await rx.start(META_AND_FULL, { address, mode, limits: { ...QUIET, ...limits } });
}

interface Conn {
  socket: TLSSocket;
  secure: Promise<void>;
  closed: Promise<void>;
}

/** TLS options, and the source address and port (tls.connect hands them to net.connect; its type omits them). */
type Options = ConnectionOptions & Pick<TcpNetConnectOpts, 'localAddress' | 'localPort'>;

/** A TLS connection to the receiver at `host`, kept in `sockets`; never ended by the client. */
function open(host: string, o: Options = {}): Conn {
  const socket = tlsConnect({ host, port: rx.r!.port, ca: rx.t!.lab.pki.ca.cert, servername: 'localhost', ...o });
  sockets.push(socket);
  let error: Error | undefined;
  socket.on('error', (err) => (error = err));
  const closed = new Promise<void>((res) => socket.once('close', () => res()));
  const secure = new Promise<void>((res, reject) => {
    socket.once('secureConnect', () => res());
    void closed.then(() => reject(new Error(`closed before its handshake: ${error?.message ?? 'by the receiver'}`)));
  });
  // Awaited by the tests that expect a handshake; others only wait for the close.
  secure.catch(() => {});
  return { socket, secure, closed };
}

/**
 * Resolves once every connection is closed; rejects after `limitMs`, which only keeps a receiver
 * that never closes them from hanging the suite (nothing is measured).
 */
function allClosed(conns: Conn[], limitMs = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still open: ${conns.filter((c) => !c.socket.destroyed).length} of ${conns.length}`)),
      limitMs,
    );
  });
  return Promise.race([Promise.all(conns.map((c) => c.closed)).then(() => undefined), limit]).finally(() =>
    clearTimeout(timer),
  );
}

/** Two connections from one source address and port, to 127.0.0.1 and to 127.0.0.2 (a listener on 0.0.0.0 takes both). */
async function sameSourcePort(o: Options = {}): Promise<[Conn, Conn]> {
  // Both bound explicitly: only sockets that both bound with SO_REUSEADDR (libuv sets it on bind) may share a port.
  const first = open('127.0.0.1', { ...o, localAddress: '127.0.0.1' });
  // The port is known once TCP connects; both handshakes then run at once.
  await new Promise((res) => first.socket.once('connect', res));
  const second = open('127.0.0.2', { ...o, localAddress: '127.0.0.1', localPort: first.socket.localPort! });
  await Promise.all([first.secure, second.secure]);
  expect(second.socket.localPort).toBe(first.socket.localPort);
  return [first, second];
}

describe('receiver connections: each connection has its own place, whatever its addresses', () => {
  it('counts and times out two unauthenticated connections from one source port to two local addresses', {
    timeout: 60_000,
  }, async () => {
    // Long enough for both handshakes on a loaded machine (the default is 10 s).
    await start('0.0.0.0', { handshakeTimeoutMs: 5000 });
    const conns = await sameSourcePort();
    expect(await eventually(() => rx.r!.receiver.connections().unauthenticated === 2, 100)).toBe(true);
    // The client never ends them and the http timeouts are far off: only the guard closes them.
    await allClosed(conns);
    expect(await eventually(() => rx.r!.receiver.connections().unauthenticated === 0)).toBe(true);
  });

  it('counts two authenticated connections from one source port to two local addresses against the cap', {
    timeout: 60_000,
  }, async () => {
    await start('0.0.0.0', { maxConnections: 1, handshakeTimeoutMs: 120_000 });
    const cert = { cert: rx.t!.lab.pki.client.cert, key: rx.t!.lab.pki.client.key };
    const first = open('127.0.0.1', { ...cert, localAddress: '127.0.0.1' });
    await first.secure;
    expect(await eventually(() => rx.r!.receiver.connections().authenticated === 1)).toBe(true);
    const second = open('127.0.0.2', { ...cert, localAddress: '127.0.0.1', localPort: first.socket.localPort! });
    // The one authenticated place is taken: the second is closed, the first stays.
    await allClosed([second]);
    expect(first.socket.destroyed).toBe(false);
    expect(logs.some((l) => l.includes('1 authenticated connections already open'))).toBe(true);
    expect(rx.r!.receiver.connections().authenticated).toBe(1);
  });
});

/** One request on `c`, kept alive; resolves with the status once the whole reply is read. */
function request(c: Conn, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? NaN);
      if (text.length < end + 4 + length) return;
      c.socket.off('data', onData);
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
    };
    c.socket.on('data', onData);
    void c.closed.then(() => reject(new Error(`closed before a reply: ${JSON.stringify(text)}`)));
    c.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

describe('receiver connections: dynamic mode shares the authenticated places between sinks', () => {
  it("one sink's keep-alive connections holding every place do not lock another sink out", {
    timeout: 60_000,
  }, async () => {
    const max = 16;
    await start('127.0.0.1', { maxConnections: max, handshakeTimeoutMs: 120_000 }, 'dynamic');
    const meta = sinkPath('meta', sinkOf(rx.t!.lab, 'meta').token);
    const full = sinkPath('full', sinkOf(rx.t!.lab, 'full').token);
    const held: Conn[] = [];
    for (let i = 0; i < max; i++) {
      const c = open('127.0.0.1');
      await c.secure;
      expect(await request(c, meta, eventList([makeEvent()]))).toBe(200);
      held.push(c);
    }
    expect(rx.r!.receiver.connections().authenticated).toBe(max);
    // Another sink still gets in, on a keep-alive connection of its own, and its events are stored.
    const other = open('127.0.0.1');
    await other.secure;
    const ev = makeEvent();
    expect(await request(other, full, eventList([ev]))).toBe(200);
    expect((await readEvents(streamFile(rx.t!.lab.paths.streamsDir, 'full'))).map((e) => e.auditID)).toEqual([
      ev.auditID,
    ]);
    // It took the oldest of meta's places; the others are kept.
    await allClosed([held[0]!]);
    expect(held.slice(1).filter((c) => c.socket.destroyed)).toEqual([]);
    // meta, holding the most places, cannot take one back while the budget is full.
    const more = open('127.0.0.1');
    await more.secure;
    expect(await request(more, meta, eventList([makeEvent()]))).toBe(503);
  });
});
