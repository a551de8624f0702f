/**
 * The connection budgets (src/receiver/connections.ts) over real sockets and real TLS: each
 * connection has its own place whatever its addresses.
 */
import type { TcpNetConnectOpts } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mode } from '../../src/lab/mode.js';
import type { Limits } from '../../src/receiver/server.js';
import { type RunningReceiver, startLabReceiver } from '../../src/receiver/start.js';
import { eventually, META_AND_FULL, tempLab, type TempLab } from './helpers.js';

let t: TempLab | null = null;
let r: RunningReceiver | null = null;
const logs: string[] = [];
const sockets: TLSSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await r?.close();
  r = null;
  await t?.cleanup();
  t = null;
  logs.length = 0;
});

/** Http timeouts far beyond the test, so only the guard's handshake timeout closes an idle connection. */
const QUIET: Partial<Limits> = { headersTimeoutMs: 600_000, requestTimeoutMs: 600_000, keepAliveTimeoutMs: 600_000 };

async function start(address: string, limits: Partial<Limits>, mode: Mode = 'static'): Promise<void> {
  t = await tempLab(META_AND_FULL, undefined, mode);
  r = await startLabReceiver(t.lab, { address, port: 0, watchIntervalMs: 50, limits: { ...QUIET, ...limits }, log: (l) => logs.push(l) });
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
  const socket = tlsConnect({ host, port: r!.port, ca: t!.lab.pki.ca.cert, servername: 'localhost', ...o });
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
    timer = setTimeout(() => reject(new Error(`still open: ${conns.filter((c) => !c.socket.destroyed).length} of ${conns.length}`)), limitMs);
  });
  return Promise.race([Promise.all(conns.map((c) => c.closed)).then(() => undefined), limit]).finally(() => clearTimeout(timer));
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
  it('counts and times out two unauthenticated connections from one source port to two local addresses', { timeout: 60_000 }, async () => {
    // Long enough for both handshakes on a loaded machine (the default is 10 s).
    await start('0.0.0.0', { handshakeTimeoutMs: 5000 });
    const conns = await sameSourcePort();
    expect(await eventually(() => r!.receiver.connections().unauthenticated === 2, 100)).toBe(true);
    // The client never ends them and the http timeouts are far off: only the guard closes them.
    await allClosed(conns);
    expect(await eventually(() => r!.receiver.connections().unauthenticated === 0)).toBe(true);
  });

  it('counts two authenticated connections from one source port to two local addresses against the cap', { timeout: 60_000 }, async () => {
    await start('0.0.0.0', { maxConnections: 1, handshakeTimeoutMs: 120_000 });
    const cert = { cert: t!.lab.pki.client.cert, key: t!.lab.pki.client.key };
    const first = open('127.0.0.1', { ...cert, localAddress: '127.0.0.1' });
    await first.secure;
    expect(await eventually(() => r!.receiver.connections().authenticated === 1)).toBe(true);
    const second = open('127.0.0.2', { ...cert, localAddress: '127.0.0.1', localPort: first.socket.localPort! });
    // The one authenticated place is taken: the second is closed, the first stays.
    await allClosed([second]);
    expect(first.socket.destroyed).toBe(false);
    expect(logs.some((l) => l.includes('1 authenticated connections already open'))).toBe(true);
    expect(r!.receiver.connections().authenticated).toBe(1);
  });
});
