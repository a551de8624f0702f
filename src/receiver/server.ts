/**
 * The receiver: an HTTPS server that takes audit batches from the API server and stores them in
 * the sinks' streams. It acknowledges a batch only once it is written, because the API server's
 * webhook retries whatever was not acknowledged: answering early would lose events on a crash.
 */
import { constants as cryptoConstants } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { escapeText } from '../ui/escape.js';
import { HEALTH_PATH } from '../lab/endpoints.js';
import type { LabPki } from '../lab/pki.js';
import { type ReceiverConfig, type StorePlan, planBatch } from './batchPlan.js';
import { BodyPool, readBody } from './body.js';
import { CERT_CREDENTIAL, ClientCerts } from './clientCert.js';
import { ConnectionGuard } from './connections.js';
import { DecodeError, decodeBatch, isJsonContentType } from './decode.js';
import { RefusalLog } from './log.js';
import { Refusal } from './refusal.js';
import { route, type RouteAuth } from './routes.js';
import type { WriteResult } from './store/sinkStream.js';
import type { StreamStore } from './store/store.js';

export interface Limits {
  /** Largest body taken (413 beyond); the API server sends at most 10 MiB per batch. */
  maxBodyBytes: number;
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included: a body that trickles is cut here (408). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
  /**
   * Authenticated connections at once: those that presented the lab's client certificate, or sent
   * a request with a sink's token. Unauthenticated peers never count against it.
   */
  maxConnections: number;
  /** Unauthenticated connections at once; one more closes the oldest of them (connections.ts). */
  maxPreAuthConnections: number;
  /**
   * Time a new connection has to authenticate (TLS handshake with the lab's client certificate,
   * or a request with a sink's token); it is closed otherwise, even mid-handshake.
   */
  handshakeTimeoutMs: number;
  maxHeaderBytes: number;
  /** On shutdown, how long in-flight batches may take before their connections are cut. */
  shutdownGraceMs: number;
  /** At most one refusal line per peer address per interval; the rest are counted (log.ts). */
  refusalLogIntervalMs: number;
}

/**
 * The connection limits keep the lab's API server in while anyone else floods the port: 400 idle
 * TCP connections, or handshakes left half done, take only the 256 unauthenticated places (the
 * oldest go first) and are closed after 10 s; the API server's connections have 256 places of
 * their own. The API server keeps a few connections per batching backend, far fewer than 256.
 */
export const DEFAULT_LIMITS: Limits = {
  maxBodyBytes: 16 * 1024 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 60_000,
  maxConnections: 256,
  maxPreAuthConnections: 256,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  shutdownGraceMs: 30_000,
  refusalLogIntervalMs: 10_000,
};

export interface ReceiverOptions {
  pki: LabPki;
  store: StreamStore;
  config: ReceiverConfig;
  /** One line per batch or refusal, without the newline. */
  log?: (line: string) => void;
  limits?: Partial<Limits>;
  /** Called before each batch is planned (a promise is awaited): the lab's receiver takes up a changed state.json there. */
  beforeBatch?: () => Promise<void> | undefined;
}

function peer(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '?';
}

/** The path as logged: a sink's token is a secret and never reaches the log. */
function loggedPath(path: string): string {
  return path.startsWith('/sinks/') ? `${path.split('/').slice(0, 3).join('/')}/…` : path.slice(0, 200);
}

/** The HTTPS server's options: the lab's certificates and the limits Node enforces itself. */
function serverOptions(pki: LabPki, l: Limits): ServerOptions {
  return {
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca.cert,
    // Ask for a client certificate but let the handshake finish without one: the dynamic
    // endpoints and /healthz have no client certificate, and /events answers 401/403 itself.
    requestCert: true,
    rejectUnauthorized: false,
    // No session resumption: Node reports a resumed TLS 1.3 session as authorized even when
    // the session never had a client certificate, so a ticket from a connection without one
    // stood in for it. With no tickets (and no session cache, which Node only has when
    // 'resumeSession' is handled) every connection makes a full handshake. The API server
    // keeps its connections alive, so this costs a handshake per connection, not per batch.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    handshakeTimeout: l.handshakeTimeoutMs,
    headersTimeout: Math.min(l.headersTimeoutMs, l.requestTimeoutMs),
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    maxHeaderSize: l.maxHeaderBytes,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(l.requestTimeoutMs / 4))),
  };
}

export class Receiver {
  readonly server: Server;
  readonly limits: Limits;
  private config: ReceiverConfig;
  private readonly store: StreamStore;
  private readonly log: (line: string) => void;
  private readonly inflight = new Set<Promise<void>>();
  private readonly bodies = new BodyPool();
  private readonly guard: ConnectionGuard;
  private readonly refusals: RefusalLog;
  private readonly refusalFlush: NodeJS.Timeout;
  private readonly certs: ClientCerts;
  /** What route() checks credentials with. */
  private readonly auth: RouteAuth;
  private closing = false;
  private readonly beforeBatch: (() => Promise<void> | undefined) | undefined;

  constructor(opts: ReceiverOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.config = opts.config;
    this.store = opts.store;
    this.beforeBatch = opts.beforeBatch;
    const out = opts.log ?? (() => {});
    // Refusal reasons quote the peer's bytes (paths, headers, JSON errors): no raw control
    // character may reach the log, where it would drive a terminal or forge a line.
    this.log = (line) => out(escapeText(line));
    const l = this.limits;
    this.refusals = new RefusalLog(this.log, l.refusalLogIntervalMs);
    // 0 logs every refusal (no window to sum up).
    this.refusalFlush = setInterval(() => this.refusals.flush(), Math.max(l.refusalLogIntervalMs, 1000));
    this.refusalFlush.unref();
    this.guard = new ConnectionGuard({
      handshakeTimeoutMs: l.handshakeTimeoutMs,
      maxPreAuth: l.maxPreAuthConnections,
      maxAuthenticated: l.maxConnections,
    });
    this.certs = new ClientCerts(opts.pki);
    this.auth = { certs: this.certs, guard: this.guard, maxConnections: l.maxConnections };
    this.server = createServer(serverOptions(opts.pki, l), (req, res) => this.track(this.handle(req, res)));
    // Budgets per kind of connection instead of Node's one maxConnections (connections.ts).
    this.server.on('connection', (socket: Socket) => this.guard.accepted(socket));
    this.server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    this.server.on('tlsClientError', () => {
      // A failed handshake (a port scan, a client that does not trust our CA) is not worth a line per try.
    });
  }

  /** A TLS connection established: one with the lab's client certificate takes its place in that budget. */
  private secured(socket: TLSSocket): void {
    // Judged for every established connection, so the verdicts also tell which sockets are.
    if (!this.certs.verdict(socket).ok) return;
    if (this.guard.authenticate(socket, CERT_CREDENTIAL)) return;
    const open = `${this.limits.maxConnections} authenticated connections already open`;
    this.refused(socket.remoteAddress ?? '?', `connection from the lab client certificate closed: ${open}`);
    socket.destroy();
  }

  /** A request Node could not parse or that timed out before handle() had it. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // A request already handed to handle() (a truncated body, a timeout) is reported there.
    if ((socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const tls = socket as TLSSocket;
    // An answer in HTTP makes sense only over an established TLS connection; anything else
    // (a handshake that never finished) is closed, never left waiting for a reply it cannot get.
    if (!this.certs.established(tls)) {
      socket.destroy();
      return;
    }
    // Malformed requests and header timeouts Node detects itself: say why, then hang up.
    const reason =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request timed out' : `bad request (${err.code ?? err.message})`;
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const from = tls.remoteAddress ?? '?';
    this.refused(from, `refused ${status} from ${from}: ${reason}`);
    if (socket.writable) {
      const body = `${reason}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // A peer that does not read the answer does not keep the socket.
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      socket.destroy();
    }
  }

  /** Connections open now, by budget (for tests and diagnostics). */
  connections(): { unauthenticated: number; authenticated: number } {
    return this.guard.counts();
  }

  private refused(peerAddress: string, text: string): void {
    this.refusals.refused(peerAddress, text);
  }

  /** Sinks changed (state.json was rewritten): batches that start from now on see the new ones. */
  setConfig(config: ReceiverConfig): void {
    this.config = config;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (this.closing) res.setHeader('Connection', 'close');
    // Set once the body is read; nothing refers to it after this function, so it goes back to the pool.
    let body: Buffer | null = null;
    try {
      if (path === HEALTH_PATH) {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refusal(405, 'use GET');
        this.reply(res, 200, 'ok');
        return;
      }
      const target = route(req, path, this.config, this.auth);
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        throw new Refusal(405, `method ${req.method} not allowed; the API server POSTs`);
      }
      if (!isJsonContentType(req.headers['content-type'])) {
        throw new Refusal(
          415,
          `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not application/json`,
        );
      }
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > this.limits.maxBodyBytes) {
        throw new Refusal(413, `body of ${declared} bytes is over the ${this.limits.maxBodyBytes}-byte limit`);
      }
      body = await readBody(req, this.bodies, this.limits);
      // After the body is read (a listener must be on it from the start), before its sinks are chosen.
      const taking = this.beforeBatch?.();
      if (taking) await taking;
      // Decoding and cutting the events work on the peer's bytes only: whatever fails there is
      // the sender's fault (4xx, not retried). 500 is kept for our own failure to store.
      let plan: StorePlan;
      let count: number;
      try {
        const batch = decodeBatch(body);
        count = batch.heads.length;
        plan = planBatch(target, batch, this.config);
      } catch (err) {
        if (err instanceof DecodeError) throw new Refusal(err.status, err.message);
        throw new Refusal(400, `could not decode the batch: ${(err as Error).message}`);
      }
      let stored: string;
      try {
        stored = await this.write(plan);
      } catch (err) {
        throw new Refusal(500, `could not store the batch: ${(err as Error).message}`);
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      this.reply(res, 200, 'ok');
      this.log(
        `${new Date().toISOString()} 200 POST ${loggedPath(path)} ${count} events in ${body.length} bytes from ${peer(req)}: ${stored} ${ms.toFixed(1)}ms`,
      );
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal(500, `internal error: ${(err as Error).message}`);
      this.refused(peer(req), `refused ${r.status} ${req.method} ${loggedPath(path)} from ${peer(req)}: ${r.message}`);
      if (!req.complete) {
        // The rest of the body is not wanted: close rather than read it to keep the connection.
        res.setHeader('Connection', 'close');
      }
      if (!res.headersSent && !res.destroyed && !req.socket.destroyed) {
        this.reply(res, r.status, r.message, () => {
          if (!req.complete) req.socket.destroy();
        });
      } else {
        req.socket.destroy();
      }
    } finally {
      if (body) this.bodies.give(body);
    }
  }

  private reply(res: ServerResponse, status: number, text: string, after?: () => void): void {
    const body = `${text.replace(/[\r\n]+/g, ' ')}\n`;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body, after);
  }

  /** Writes a batch's lines; resolves once every stream has them on disk. */
  private async write({ groups, forwardStored }: StorePlan): Promise<string> {
    // Settled, not Promise.all: a write that fails must not hand the body back while another still reads it.
    const settled = await Promise.allSettled(
      [...groups].map(async ([name, lines]) => ({ name, r: await this.store.write(name, lines) })),
    );
    const failed = settled.find((x) => x.status === 'rejected');
    if (failed) throw failed.reason;
    const results = settled.map((x) => (x as PromiseFulfilledResult<{ name: string; r: WriteResult }>).value);
    forwardStored?.();
    if (results.length === 0) return 'no sink takes them';
    return results
      .map(({ name, r }) => `${name} +${r.written}${r.duplicates > 0 ? ` (${r.duplicates} dup)` : ''}`)
      .join(', ');
  }

  /** Stops taking connections, lets in-flight batches finish (within the grace period), then closes the streams. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    // Nothing unauthenticated is in flight: its sockets (some with no HTTP on them yet) go now.
    this.guard.closeUnauthenticated();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => (timer = setTimeout(r, this.limits.shutdownGraceMs))),
    ]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    await closed;
    clearInterval(this.refusalFlush);
    this.refusals.flush(true);
    await this.store.close();
  }
}
