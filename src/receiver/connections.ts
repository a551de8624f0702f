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
 *   peer can use up, shared between the credentials that authenticated them (see makeRoomFor).
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
  /** Authenticated connections and the credential each holds its place for, oldest first. */
  private readonly authenticated = new Map<Socket, string>();
  /** Places held per credential. */
  private readonly held = new Map<string, number>();

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
      this.release(socket);
    });
    while (this.pending.size > this.budget.maxPreAuth) {
      const [oldest, oldTimer] = this.pending.entries().next().value as [Socket, NodeJS.Timeout];
      this.pending.delete(oldest);
      clearTimeout(oldTimer);
      oldest.destroy();
    }
  }

  /**
   * The connection under `socket` (raw or TLS) showed `credential` (the client certificate, or one
   * sink's token): it leaves the unauthenticated budget. A connection keeps the credential it first
   * showed. False when the authenticated budget has no room for it (the caller refuses or closes
   * it) or the connection is already gone.
   */
  authenticate(socket: Socket, credential: string): boolean {
    const accepted = acceptedOf(socket);
    if (this.authenticated.has(accepted)) return true;
    const timer = this.pending.get(accepted);
    if (timer === undefined) return false;
    if (this.authenticated.size >= this.budget.maxAuthenticated && !this.makeRoomFor(credential)) return false;
    clearTimeout(timer);
    this.pending.delete(accepted);
    this.authenticated.set(accepted, credential);
    this.held.set(credential, (this.held.get(credential) ?? 0) + 1);
    return true;
  }

  /**
   * With every place taken, a credential that holds at least two fewer places than the one that
   * holds the most closes that one's oldest connection and takes its place. So one sink's token
   * (which whoever can read the AuditSink has) cannot keep another sink out, while a lone
   * credential may still use every place when no other needs one. Places only ever move from the
   * credential with the most to one with fewer, so under any load they even out, however many
   * connections one credential opens; "two fewer" keeps two credentials of equal need from taking
   * turns closing each other. A fixed share per sink was not taken: the sinks change while the
   * receiver runs, and a sink made after another filled the budget would still find it full.
   * The static mode's one credential is never below itself, so it is refused when full, as
   * before. The closed connection may be busy: the API server retries a batch whose connection was
   * cut, and the stream stores a retried event once.
   */
  private makeRoomFor(credential: string): boolean {
    let most: string | null = null;
    let mostHeld = 0;
    for (const [c, n] of this.held) {
      if (n > mostHeld) {
        most = c;
        mostHeld = n;
      }
    }
    if (most === null || (this.held.get(credential) ?? 0) + 2 > mostHeld) return false;
    for (const [socket, c] of this.authenticated) {
      if (c !== most) continue;
      this.release(socket);
      socket.destroy();
      return true;
    }
    return false;
  }

  private release(socket: Socket): void {
    const credential = this.authenticated.get(socket);
    if (credential === undefined) return;
    this.authenticated.delete(socket);
    const n = (this.held.get(credential) ?? 1) - 1;
    if (n > 0) this.held.set(credential, n);
    else this.held.delete(credential);
  }

  closeUnauthenticated(): void {
    for (const socket of [...this.pending.keys()]) socket.destroy();
  }

  counts(): { unauthenticated: number; authenticated: number } {
    return { unauthenticated: this.pending.size, authenticated: this.authenticated.size };
  }
}
