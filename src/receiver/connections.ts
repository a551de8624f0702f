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
 *
 * Each connection is its accepted socket object, never its addresses: with a listener on several
 * local addresses (0.0.0.0), two connections from one source address and port are different
 * connections, and a key of remote address and port let the second replace the first, which was
 * then neither timed out nor counted.
 */
import { Socket } from 'node:net';

export interface ConnectionBudget {
  handshakeTimeoutMs: number;
  maxPreAuth: number;
  maxAuthenticated: number;
}

/**
 * The socket the server accepted under `s`: `s` itself for the 'connection' event's socket; for
 * the TLS socket over it ('secureConnection', a request's socket), the socket it wraps, which Node
 * keeps as `_parent` for the life of a server-side TLS socket. Were that link ever missing, the TLS
 * socket is found in no table and its connection is refused: the guard fails closed, never open.
 */
function acceptedOf(s: Socket): Socket {
  const parent = (s as { _parent?: unknown })._parent;
  return parent instanceof Socket ? parent : s;
}

export class ConnectionGuard {
  /** Unauthenticated connections and their timers, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<Socket, NodeJS.Timeout>();
  private readonly authenticated = new Set<Socket>();

  constructor(private readonly budget: ConnectionBudget) {}

  /** A new TCP connection (the server's 'connection' event: the raw socket, before TLS). */
  accepted(socket: Socket): void {
    // Reset before it was handed over: its 'close' may be gone already, and with it our cleanup.
    if (socket.destroyed) return;
    const timer = setTimeout(() => {
      if (this.pending.has(socket)) socket.destroy();
    }, this.budget.handshakeTimeoutMs);
    timer.unref();
    this.pending.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      this.pending.delete(socket);
      this.authenticated.delete(socket);
    });
    while (this.pending.size > this.budget.maxPreAuth) {
      const [oldest, oldTimer] = this.pending.entries().next().value as [Socket, NodeJS.Timeout];
      this.pending.delete(oldest);
      clearTimeout(oldTimer);
      oldest.destroy();
    }
  }

  /**
   * The connection under `socket` (raw or TLS) showed a credential: it leaves the unauthenticated
   * budget. False when the authenticated budget is full (the caller closes it) or it is already gone.
   */
  authenticate(socket: Socket): boolean {
    const accepted = acceptedOf(socket);
    if (this.authenticated.has(accepted)) return true;
    const timer = this.pending.get(accepted);
    if (timer === undefined) return false;
    if (this.authenticated.size >= this.budget.maxAuthenticated) return false;
    clearTimeout(timer);
    this.pending.delete(accepted);
    this.authenticated.add(accepted);
    return true;
  }

  closeUnauthenticated(): void {
    for (const socket of [...this.pending.keys()]) socket.destroy();
  }

  counts(): { unauthenticated: number; authenticated: number } {
    return { unauthenticated: this.pending.size, authenticated: this.authenticated.size };
  }
}
