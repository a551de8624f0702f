/**
 * The receiver: an HTTPS server that takes audit batches from the API server and stores them in
 * the sinks' streams. It acknowledges a batch only once it is written, because the API server's
 * webhook retries whatever was not acknowledged: answering early would lose events on a crash.
 */
import { constants as cryptoConstants, createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { escapeText } from '../ui/escape.js';
import { levelRank } from '../audit/model.js';
import { eventAtLevel } from '../audit/level.js';
import { eventAttributes, type PolicyEvaluator, stageLogged } from '../audit/policyEngine.js';
import type { Mode } from '../lab/mode.js';
import type { SinkState } from '../lab/state.js';
import type { LabPki } from '../lab/pki.js';
import { ConnectionGuard } from './connections.js';
import { type AuditEvent, DecodeError, type DecodedBatch, decodeBatch, eventJson, isJsonContentType } from './decode.js';
import { HEALTH_PATH, STATIC_PATH } from '../lab/endpoints.js';
import { RefusalLog } from './log.js';
import { dedupeKey, jsonLine, type Line } from './store/lines.js';
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

export interface ReceiverConfig {
  mode: Mode;
  sinks: readonly SinkState[];
  /**
   * static mode: the evaluators of sinks made with --policy; null for one whose policy could not
   * be loaded, which then stores nothing rather than more than its policy allows.
   */
  policies?: ReadonlyMap<string, PolicyEvaluator | null>;
  /** static mode: where a sink's stored events also go (`sink create --url`); never waited for. */
  forward?: ReadonlyMap<string, (events: readonly AuditEvent[]) => void>;
}

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

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Target = { kind: 'static' } | { kind: 'sink'; sink: SinkState };

/** What a connection's client certificate allows: the static endpoint, or a refusal with its reason. */
type CertVerdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };
const CERT_OK: CertVerdict = { ok: true };
/** Extended key usage clientAuth (RFC 5280 id-kp-clientAuth). */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
/** What a connection authenticated with, as the connection budget shares places between them. */
const CERT_CREDENTIAL = 'client certificate';
const sinkCredential = (name: string) => `sink/${name}`;

/** Lines to store per sink, and what to forward once they are stored. */
interface StorePlan {
  groups: Map<string, Line[]>;
  forwardStored: (() => void) | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests so neither the token's content nor its length leaks through timing. */
function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

function peer(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '?';
}

/** The path as logged: a sink's token is a secret and never reaches the log. */
function loggedPath(path: string): string {
  return path.startsWith('/sinks/') ? path.split('/').slice(0, 3).join('/') + '/…' : path.slice(0, 200);
}

/**
 * Request bodies for reuse. Each is sized to a power of two, so batches of similar size share them;
 * few are kept, and none over 4 MiB (larger batches are rare and get a buffer of their own).
 */
export class BodyPool {
  private readonly free: Buffer[] = [];
  /** The memory this pool made: nothing else (a socket's chunk, a concat) is ever taken back. */
  private readonly mine = new WeakSet<ArrayBufferLike>();
  constructor(
    private readonly keep = 8,
    readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** A buffer of exactly `n` bytes (a view of a pooled one), contents undefined. */
  take(n: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.length >= n) {
        this.free.splice(i, 1);
        return b.subarray(0, n);
      }
    }
    let size = 64 * 1024;
    while (size < n) size *= 2;
    if (size > this.maxBytes) return Buffer.allocUnsafeSlow(n);
    const b = Buffer.allocUnsafeSlow(size);
    this.mine.add(b.buffer);
    return b.subarray(0, n);
  }

  /** Takes back a buffer from take() once nothing refers to it; anything else is ignored. */
  give(b: Buffer): void {
    if (!this.mine.has(b.buffer) || this.free.length >= this.keep) return;
    if (this.free.some((f) => f.buffer === b.buffer)) return;
    this.free.push(Buffer.from(b.buffer, 0, b.buffer.byteLength));
  }
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
  /** Each TLS connection's client certificate, judged once (it cannot change on a connection). */
  private readonly verdicts = new WeakMap<TLSSocket, CertVerdict>();
  private readonly ca: X509Certificate;
  /** The subject of the certificate the lab issued to its API server. */
  private readonly clientSubject: string;
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
    this.guard = new ConnectionGuard({ handshakeTimeoutMs: l.handshakeTimeoutMs, maxPreAuth: l.maxPreAuthConnections, maxAuthenticated: l.maxConnections });
    this.ca = new X509Certificate(opts.pki.ca.cert);
    this.clientSubject = new X509Certificate(opts.pki.client.cert).subject;
    this.server = createServer(
      {
        key: opts.pki.server.key,
        cert: opts.pki.server.cert,
        ca: opts.pki.ca.cert,
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
      },
      (req, res) => this.track(this.handle(req, res)),
    );
    // Budgets per kind of connection instead of Node's one maxConnections (connections.ts).
    this.server.on('connection', (socket: Socket) => this.guard.accepted(socket));
    this.server.on('secureConnection', (socket: TLSSocket) => {
      // Judged for every established connection, so verdicts also tells which sockets are.
      if (!this.clientCert(socket).ok) return;
      if (this.guard.authenticate(socket, CERT_CREDENTIAL)) return;
      this.refused(socket.remoteAddress ?? '?', `connection from the lab client certificate closed: ${l.maxConnections} authenticated connections already open`);
      socket.destroy();
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // A request already handed to handle() (a truncated body, a timeout) is reported there.
      if ((socket as { _httpMessage?: unknown })._httpMessage) {
        socket.destroy();
        return;
      }
      const tls = socket as TLSSocket;
      // An answer in HTTP makes sense only over an established TLS connection; anything else
      // (a handshake that never finished) is closed, never left waiting for a reply it cannot get.
      if (!this.verdicts.has(tls)) {
        socket.destroy();
        return;
      }
      // Malformed requests and header timeouts Node detects itself: say why, then hang up.
      const reason = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request timed out' : `bad request (${err.code ?? err.message})`;
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const from = tls.remoteAddress ?? '?';
      this.refused(from, `refused ${status} from ${from}: ${reason}`);
      if (socket.writable) {
        const body = `${reason}\n`;
        socket.end(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        // A peer that does not read the answer does not keep the socket.
        setTimeout(() => socket.destroy(), 1000).unref();
      } else {
        socket.destroy();
      }
    });
    this.server.on('tlsClientError', () => {
      // A failed handshake (a port scan, a client that does not trust our CA) is not worth a line per try.
    });
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
      const target = this.route(req, path);
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        throw new Refusal(405, `method ${req.method} not allowed; the API server POSTs`);
      }
      if (!isJsonContentType(req.headers['content-type'])) {
        throw new Refusal(415, `content type ${JSON.stringify(req.headers['content-type'] ?? '')} is not application/json`);
      }
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > this.limits.maxBodyBytes) {
        throw new Refusal(413, `body of ${declared} bytes is over the ${this.limits.maxBodyBytes}-byte limit`);
      }
      body = await this.readBody(req);
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
        plan = this.plan(target, batch);
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
      this.log(`${new Date().toISOString()} 200 POST ${loggedPath(path)} ${count} events in ${body.length} bytes from ${peer(req)}: ${stored} ${ms.toFixed(1)}ms`);
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

  /**
   * Whether the connection's client certificate is the lab's API server's: present on this very
   * connection (socket.authorized alone is true for a resumed TLS 1.3 session that never had a
   * certificate), chained to the lab CA, for client authentication, and with the subject the lab
   * issued, so no other certificate the lab CA signed (the receiver's own, say) is taken.
   */
  private clientCert(socket: TLSSocket): CertVerdict {
    let v = this.verdicts.get(socket);
    if (v === undefined) {
      v = this.judgeClientCert(socket);
      this.verdicts.set(socket, v);
    }
    return v;
  }

  private judgeClientCert(socket: TLSSocket): CertVerdict {
    const cert = socket.getPeerX509Certificate();
    if (!cert) return { ok: false, status: 401, reason: "the lab's client certificate is required" };
    if (!socket.authorized) return { ok: false, status: 403, reason: `client certificate not accepted: ${String(socket.authorizationError ?? 'not signed by the lab CA')}` };
    if (!cert.checkIssued(this.ca) || !cert.verify(this.ca.publicKey)) return { ok: false, status: 403, reason: 'client certificate not accepted: not issued by the lab CA' };
    if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) return { ok: false, status: 403, reason: 'client certificate not accepted: not for client authentication' };
    if (cert.subject !== this.clientSubject) {
      return { ok: false, status: 403, reason: `client certificate not accepted: subject ${JSON.stringify(cert.subject.replace(/\n/g, ', '))} is not the lab's API server's` };
    }
    return CERT_OK;
  }

  private route(req: IncomingMessage, path: string): Target {
    const mode = this.config.mode;
    if (path === STATIC_PATH) {
      // Each mode serves only its own endpoints: in dynamic mode nothing may post here.
      if (mode !== 'static') throw new Refusal(404, `${STATIC_PATH} is the static-mode endpoint; this receiver is in ${mode} mode, where each sink posts to its own /sinks/<name>/<token> URL`);
      const v = this.clientCert(req.socket as TLSSocket);
      if (!v.ok) throw new Refusal(v.status, v.reason);
      return { kind: 'static' };
    }
    const parts = path.split('/');
    if (parts.length === 4 && parts[0] === '' && parts[1] === 'sinks') {
      // In static mode the sinks' tokens are not credentials: the API server has its certificate,
      // and a batch taken here would skip the sink's level and stages.
      if (mode !== 'dynamic') throw new Refusal(404, `/sinks/… is a dynamic-mode endpoint; this receiver is in ${mode} mode, where the API server posts to ${STATIC_PATH} with the lab's client certificate`);
      let name: string;
      let token: string;
      try {
        name = decodeURIComponent(parts[2]!);
        token = decodeURIComponent(parts[3]!);
      } catch {
        throw new Refusal(400, 'malformed sink path');
      }
      const sink = this.config.sinks.find((s) => s.name === name);
      if (!sink) throw new Refusal(404, `no sink named ${JSON.stringify(name.slice(0, 100))}`);
      if (!tokenMatches(token, sink.token)) throw new Refusal(403, `wrong token for sink ${JSON.stringify(name)}`);
      // The token is this connection's credential: it leaves the unauthenticated budget.
      if (!this.guard.authenticate(req.socket, sinkCredential(sink.name))) {
        throw new Refusal(503, `${this.limits.maxConnections} authenticated connections already open, and sink ${JSON.stringify(name)} holds as many as any other; try again`);
      }
      return { kind: 'sink', sink };
    }
    throw new Refusal(404, 'not found');
  }

  /**
   * The body, in one buffer. With a Content-Length (the API server always sends one) the chunks are
   * copied as they come into a buffer from the pool: a fresh buffer per batch (Buffer.concat) is
   * external memory that only goes back after a collection, and the chunks were kept until the end.
   */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.limits.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    // Only up to the pool's size: a declared 16 MB is not allocated before any of it has come.
    const into = Number.isSafeInteger(declared) && declared >= 0 && declared <= Math.min(max, this.bodies.maxBytes) ? this.bodies.take(declared) : null;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let settled = false;
      const finish = (err: Refusal | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.off('data', onData);
        if (err) {
          req.pause();
          if (into) this.bodies.give(into);
          reject(err);
        } else if (into) {
          // The HTTP parser delivers exactly Content-Length bytes; anything else was refused above.
          resolve(total === declared ? into : (this.bodies.give(into), Buffer.alloc(0)));
        } else {
          resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
        }
      };
      const onData = (chunk: Buffer) => {
        if (total + chunk.length > max) {
          total += chunk.length;
          finish(new Refusal(413, `body over the ${max}-byte limit`));
        } else if (into) {
          if (total + chunk.length > declared) {
            total += chunk.length;
            finish(new Refusal(400, `body longer than its Content-Length of ${declared} bytes`));
            return;
          }
          chunk.copy(into, total);
          total += chunk.length;
        } else {
          total += chunk.length;
          chunks.push(chunk);
        }
      };
      // Node's requestTimeout is checked only every connectionsCheckingInterval; this one is exact.
      const timer = setTimeout(
        () => finish(new Refusal(408, `body not complete within ${this.limits.requestTimeoutMs} ms (${total} bytes received)`)),
        this.limits.requestTimeoutMs,
      );
      req.on('data', onData);
      req.on('end', () => finish(null));
      const truncated = () => {
        const want = req.headers['content-length'];
        finish(new Refusal(400, `truncated body: connection ended after ${total}${want !== undefined ? ` of ${want}` : ''} bytes`));
      };
      req.on('aborted', truncated);
      req.on('error', truncated);
      req.on('close', () => {
        if (!req.complete) truncated();
      });
    });
  }

  /** The lines a batch makes in each stream it belongs to (nothing written yet). */
  private plan(target: Target, batch: DecodedBatch): StorePlan {
    const { heads } = batch;
    const groups = new Map<string, Line[]>();
    let forwardStored: (() => void) | null = null;
    if (target.kind === 'sink') {
      groups.set(
        target.sink.name,
        heads.map((h, i) => ({ key: dedupeKey(h.auditID, h.stage), parts: batch.line(i, null) })),
      );
    } else {
      const sinks = this.config.sinks.filter((s) => s.level !== 'None' && s.stages.length > 0);
      const ranks = sinks.map((s) => levelRank(s.level));
      const lists = sinks.map(() => [] as Line[]);
      const forward = this.config.forward;
      const forwarded = sinks.map((s) => (forward?.has(s.name) ? ([] as AuditEvent[]) : null));
      // Sinks of one level get the same line: make each event's line once per level, not per sink.
      const byLevel: (Line | undefined)[] = [undefined, undefined, undefined, undefined];
      for (let e = 0; e < heads.length; e++) {
        const head = heads[e]!;
        const key = dedupeKey(head.auditID, head.stage);
        byLevel.fill(undefined);
        for (let i = 0; i < sinks.length; i++) {
          const sink = sinks[i]!;
          if (sink.policy !== undefined) {
            const out = this.underPolicy(batch.event(e), sink.name);
            if (out === null) continue;
            lists[i]!.push(jsonLine(key, eventJson(out)));
            forwarded[i]?.push(out);
            continue;
          }
          if (!sink.stages.includes(head.stage)) continue;
          const rank = ranks[i]!;
          let l = byLevel[rank];
          if (l === undefined) l = byLevel[rank] = { key, parts: batch.line(e, sink.level) };
          lists[i]!.push(l);
          forwarded[i]?.push(eventAtLevel(batch.event(e), sink.level, { keepLowerLevel: true }));
        }
      }
      sinks.forEach((s, i) => {
        if (lists[i]!.length > 0) groups.set(s.name, lists[i]!);
      });
      // Only a batch that was stored goes on, so the copy outside never has what the lab lacks.
      forwardStored = () =>
        sinks.forEach((s, i) => {
          const evs = forwarded[i];
          if (evs && evs.length > 0) forward!.get(s.name)!(evs);
        });
    }
    return { groups, forwardStored };
  }

  /** Writes a batch's lines; resolves once every stream has them on disk. */
  private async write({ groups, forwardStored }: StorePlan): Promise<string> {
    // Settled, not Promise.all: a write that fails must not hand the body back while another still reads it.
    const settled = await Promise.allSettled([...groups].map(async ([name, lines]) => ({ name, r: await this.store.write(name, lines) })));
    const failed = settled.find((x) => x.status === 'rejected');
    if (failed) throw failed.reason;
    const results = settled.map((x) => (x as PromiseFulfilledResult<{ name: string; r: WriteResult }>).value);
    forwardStored?.();
    if (results.length === 0) return 'no sink takes them';
    return results.map(({ name, r }) => `${name} +${r.written}${r.duplicates > 0 ? ` (${r.duplicates} dup)` : ''}`).join(', ');
  }

  /**
   * The event as a sink with a full policy gets it: the policy's decision for the request, as the
   * API server would have made it, applied to what was captured; null when it logs nothing.
   */
  private underPolicy(ev: AuditEvent, sink: string): AuditEvent | null {
    const evaluator = this.config.policies?.get(sink);
    if (!evaluator) return null;
    const d = evaluator.evaluate(eventAttributes(ev));
    if (!stageLogged(d, ev.stage)) return null;
    return eventAtLevel(ev, d.level, { omitManagedFields: d.omitManagedFields, keepLowerLevel: true });
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
