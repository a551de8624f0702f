/**
 * Two budgets of connections, so that a peer with no credentials cannot keep the lab's API server
 * out. One cap on every connection (Node's maxConnections) let 256 idle TCP connections, or TLS
 * handshakes left half done, refuse the API server's next batch and /healthz until the attacker
 * let go; a socket that never finished its handshake was never closed.
 *
 * - A connection starts unauthenticated. It has `handshakeTimeoutMs` to authenticate: finish the
 *   TLS handshake with the lab's client certificate, or send a request that carries a sink's
 *   token (dynamic mode). Otherwise it is closed, whatever it is doing (idle, a handshake or
 *   headers that trickle in, a keep-alive /healthz client).
 * - At most `maxPreAuth` unauthenticated connections are kept; one more closes the OLDEST of them.
 *   Refusing the new one instead would let whoever holds the old ones keep everyone out; this way
 *   a new connection always gets its chance to authenticate.
 * - Authenticated connections have their own cap (`maxAuthenticated`), which no unauthenticated
 *   peer can use up; past it a newly authenticated connection is closed.
 */
import type { Socket } from 'node:net';

export interface ConnectionBudget {
  handshakeTimeoutMs: number;
  maxPreAuth: number;
  maxAuthenticated: number;
}

interface Pending {
  socket: Socket;
  timer: NodeJS.Timeout;
}

/** A TCP connection's identity, the same for the raw socket and the TLS socket over it. */
function keyOf(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | null {
  return s.remoteAddress === undefined || s.remotePort === undefined ? null : `${s.remoteAddress}|${s.remotePort}`;
}

export class ConnectionGuard {
  /** Unauthenticated connections, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<string, Pending>();
  private readonly authenticated = new Map<string, Socket>();

  constructor(private readonly budget: ConnectionBudget) {}

  /** A new TCP connection (the server's 'connection' event: the raw socket, before TLS). */
  accepted(socket: Socket): void {
    const key = keyOf(socket);
    if (key === null) {
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      if (this.pending.get(key)?.socket === socket) socket.destroy();
    }, this.budget.handshakeTimeoutMs);
    timer.unref();
    this.pending.set(key, { socket, timer });
    socket.once('close', () => {
      clearTimeout(timer);
      if (this.pending.get(key)?.socket === socket) this.pending.delete(key);
      if (this.authenticated.get(key) === socket) this.authenticated.delete(key);
    });
    while (this.pending.size > this.budget.maxPreAuth) {
      const oldest = this.pending.entries().next().value as [string, Pending];
      this.pending.delete(oldest[0]);
      clearTimeout(oldest[1].timer);
      oldest[1].socket.destroy();
    }
  }

  /**
   * The connection under `tlsSocket` showed a credential: it leaves the unauthenticated budget.
   * False when the authenticated budget is full (the caller closes it) or it is already gone.
   */
  authenticate(tlsSocket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): boolean {
    const key = keyOf(tlsSocket);
    if (key === null) return false;
    if (this.authenticated.has(key)) return true;
    const p = this.pending.get(key);
    if (!p) return false;
    if (this.authenticated.size >= this.budget.maxAuthenticated) return false;
    clearTimeout(p.timer);
    this.pending.delete(key);
    this.authenticated.set(key, p.socket);
    return true;
  }

  closeUnauthenticated(): void {
    for (const p of [...this.pending.values()]) p.socket.destroy();
  }

  counts(): { unauthenticated: number; authenticated: number } {
    return { unauthenticated: this.pending.size, authenticated: this.authenticated.size };
  }
}
