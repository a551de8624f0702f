/** Which endpoint a request is for, and whether it may post there: the lab's client certificate or a sink's token. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { STATIC_PATH } from '../lab/endpoints.js';
import type { Mode } from '../lab/mode.js';
import type { SinkState } from '../lab/state.js';
import type { ClientCerts } from './clientCert.js';
import type { ConnectionGuard } from './connections.js';
import { Refusal } from './refusal.js';

export type Target = { kind: 'static' } | { kind: 'sink'; sink: SinkState };

/** The receiver's mode and sinks now (they change while it runs). */
export interface RouteConfig {
  mode: Mode;
  sinks: readonly SinkState[];
}

/** What checks a request's credentials, and the budget an authenticated connection takes a place in. */
export interface RouteAuth {
  certs: ClientCerts;
  guard: ConnectionGuard;
  /** Limits.maxConnections, for the refusal when the budget is full. */
  maxConnections: number;
}

const sinkCredential = (name: string) => `sink/${name}`;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests so neither the token's content nor its length leaks through timing. */
function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/**
 * The endpoint a request's path names, once the request may post there: /events with the lab's
 * client certificate (static mode), /sinks/<name>/<token> with that sink's token (dynamic mode).
 * Anything else is a Refusal.
 */
export function route(req: IncomingMessage, path: string, config: RouteConfig, auth: RouteAuth): Target {
  const mode = config.mode;
  if (path === STATIC_PATH) {
    // Each mode serves only its own endpoints: in dynamic mode nothing may post here.
    if (mode !== 'static')
      throw new Refusal(
        404,
        `${STATIC_PATH} is the static-mode endpoint; this receiver is in ${mode} mode, where each sink posts to its own /sinks/<name>/<token> URL`,
      );
    const v = auth.certs.verdict(req.socket as TLSSocket);
    if (!v.ok) throw new Refusal(v.status, v.reason);
    return { kind: 'static' };
  }
  const parts = path.split('/');
  if (parts.length === 4 && parts[0] === '' && parts[1] === 'sinks') {
    // In static mode the sinks' tokens are not credentials: the API server has its certificate,
    // and a batch taken here would skip the sink's level and stages.
    if (mode !== 'dynamic')
      throw new Refusal(
        404,
        `/sinks/… is a dynamic-mode endpoint; this receiver is in ${mode} mode, where the API server posts to ${STATIC_PATH} with the lab's client certificate`,
      );
    let name: string;
    let token: string;
    try {
      name = decodeURIComponent(parts[2]!);
      token = decodeURIComponent(parts[3]!);
    } catch {
      throw new Refusal(400, 'malformed sink path');
    }
    const sink = config.sinks.find((s) => s.name === name);
    if (!sink) throw new Refusal(404, `no sink named ${JSON.stringify(name.slice(0, 100))}`);
    if (!tokenMatches(token, sink.token)) throw new Refusal(403, `wrong token for sink ${JSON.stringify(name)}`);
    // The token is this connection's credential: it leaves the unauthenticated budget.
    if (!auth.guard.authenticate(req.socket, sinkCredential(sink.name))) {
      const open = `${auth.maxConnections} authenticated connections already open`;
      throw new Refusal(503, `${open}, and sink ${JSON.stringify(name)} holds as many as any other; try again`);
    }
    return { kind: 'sink', sink };
  }
  throw new Refusal(404, 'not found');
}
