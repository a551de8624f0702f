/** Reading a request's body within its limits, into memory that is reused from batch to batch. */
import type { IncomingMessage } from 'node:http';
import { Refusal } from './refusal.js';

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

/** The receiver's limits a body is read within (server.ts's Limits). */
export interface BodyLimits {
  maxBodyBytes: number;
  requestTimeoutMs: number;
}

/**
 * The body, in one buffer. With a Content-Length (the API server always sends one) the chunks are
 * copied as they come into a buffer from the pool: a fresh buffer per batch (Buffer.concat) is
 * external memory that only goes back after a collection, and the chunks were kept until the end.
 */
export function readBody(req: IncomingMessage, bodies: BodyPool, limits: BodyLimits): Promise<Buffer> {
  const max = limits.maxBodyBytes;
  const declared = Number(req.headers['content-length']);
  // Only up to the pool's size: a declared 16 MB is not allocated before any of it has come.
  const pooled = Number.isSafeInteger(declared) && declared >= 0 && declared <= Math.min(max, bodies.maxBytes);
  const into = pooled ? bodies.take(declared) : null;
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
        if (into) bodies.give(into);
        reject(err);
      } else if (into) {
        // The HTTP parser delivers exactly Content-Length bytes; anything else was refused above.
        if (total === declared) resolve(into);
        else {
          bodies.give(into);
          resolve(Buffer.alloc(0));
        }
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
    const timer = setTimeout(() => {
      const ms = limits.requestTimeoutMs;
      finish(new Refusal(408, `body not complete within ${ms} ms (${total} bytes received)`));
    }, limits.requestTimeoutMs);
    req.on('data', onData);
    req.on('end', () => finish(null));
    const truncated = () => {
      const want = req.headers['content-length'];
      finish(
        new Refusal(
          400,
          `truncated body: connection ended after ${total}${want !== undefined ? ` of ${want}` : ''} bytes`,
        ),
      );
    };
    req.on('aborted', truncated);
    req.on('error', truncated);
    req.on('close', () => {
      if (!req.complete) truncated();
    });
  });
}
