/**
 * Forwards a sink's events to an external endpoint (`sink create --url`) the way the API server's
 * webhook backend would: EventList batches over HTTPS, throttled by a token bucket (qps, burst),
 * retried with backoff. It never blocks the lab's own streams: events are queued in memory, the
 * queue is bounded, and what cannot be delivered is counted and logged, not waited for.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Throttle } from '../audit/model.js';

export interface ForwardOptions {
  url: string;
  throttle: Throttle;
  /** CA certificates to trust instead of the system's (PEM); users add theirs with NODE_EXTRA_CA_CERTS. */
  ca?: string;
  /** Events per batch, as the API server's --audit-webhook-batch-max-size. */
  batchMax?: number;
  /** How long to wait for a batch to fill. */
  maxWaitMs?: number;
  /** Events held at most; beyond it new events are dropped and counted. */
  queueMax?: number;
  /** Backoff before the first retry, multiplied by 1.5 each time (the API server's is 10 s). */
  initialBackoffMs?: number;
  /** Tries per batch, the first included. */
  tries?: number;
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ForwardStats {
  queued: number;
  sent: number;
  batches: number;
  dropped: number;
  failedTries: number;
}

/** A token bucket: `burst` tokens, refilled at `qps` per second. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Milliseconds until a token is available (0 means take it now). */
  delayMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.qps) * 1000;
  }

  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export class Forwarder {
  private readonly queue: object[] = [];
  private readonly stats: ForwardStats = { queued: 0, sent: 0, batches: 0, dropped: 0, failedTries: 0 };
  private readonly bucket: TokenBucket;
  private readonly opts: Required<Omit<ForwardOptions, 'ca' | 'log'>> & Pick<ForwardOptions, 'ca' | 'log'>;
  private readonly stop = new AbortController();
  private wake: (() => void) | null = null;
  private readonly loop: Promise<void>;
  private closing = false;

  constructor(options: ForwardOptions) {
    this.opts = {
      batchMax: 400,
      maxWaitMs: 1000,
      queueMax: 10_000,
      initialBackoffMs: 10_000,
      tries: 5,
      requestTimeoutMs: 30_000,
      ...options,
    };
    this.bucket = new TokenBucket(options.throttle.qps, options.throttle.burst);
    this.loop = this.run();
  }

  /** Queues events; never waits. Returns how many were dropped because the queue was full. */
  push(events: readonly object[]): number {
    if (this.closing) return events.length;
    const room = Math.max(0, this.opts.queueMax - this.queue.length);
    const take = events.slice(0, room);
    this.queue.push(...take);
    this.stats.queued += take.length;
    const dropped = events.length - take.length;
    if (dropped > 0) {
      this.stats.dropped += dropped;
      this.opts.log?.(`forward ${this.opts.url}: queue full (${this.opts.queueMax}), dropped ${dropped} events`);
    }
    this.wake?.();
    return dropped;
  }

  snapshot(): ForwardStats {
    return { ...this.stats };
  }

  /** Sends what is queued (within `graceMs`), then stops; what is left is counted as dropped. */
  async close(graceMs = 5000): Promise<ForwardStats> {
    this.closing = true;
    this.wake?.();
    const timer = setTimeout(() => this.stop.abort(), graceMs);
    await this.loop;
    clearTimeout(timer);
    if (this.queue.length > 0) {
      this.stats.dropped += this.queue.length;
      this.opts.log?.(`forward ${this.opts.url}: stopped with ${this.queue.length} events undelivered`);
      this.queue.length = 0;
    }
    return this.snapshot();
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      if (this.queue.length === 0) {
        if (this.closing) return;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      // Let a batch fill up unless it is full or we are closing.
      if (this.queue.length < this.opts.batchMax && !this.closing) {
        await Promise.race([sleep(this.opts.maxWaitMs, signal), new Promise<void>((r) => (this.wake = r))]);
        this.wake = null;
        if (this.queue.length < this.opts.batchMax && !this.closing) await sleep(0, signal);
      }
      const delay = this.bucket.delayMs();
      if (delay > 0) await sleep(delay, signal);
      if (signal.aborted) return;
      this.bucket.take();
      const batch = this.queue.splice(0, this.opts.batchMax);
      await this.deliver(batch, signal);
    }
  }

  private async deliver(batch: object[], signal: AbortSignal): Promise<void> {
    const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: batch });
    let backoff = this.opts.initialBackoffMs;
    for (let attempt = 1; attempt <= this.opts.tries; attempt++) {
      const outcome = await this.post(body);
      if (outcome === 'ok') {
        this.stats.sent += batch.length;
        this.stats.batches += 1;
        return;
      }
      this.stats.failedTries += 1;
      this.opts.log?.(`forward ${this.opts.url}: try ${attempt}/${this.opts.tries} failed: ${outcome}`);
      if (attempt < this.opts.tries) {
        await sleep(backoff, signal);
        if (signal.aborted) break;
        backoff *= 1.5;
      }
    }
    this.stats.dropped += batch.length;
    this.opts.log?.(`forward ${this.opts.url}: gave up on a batch of ${batch.length} events`);
  }

  private post(body: string): Promise<'ok' | string> {
    const u = new URL(this.opts.url);
    const options: RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: this.opts.requestTimeoutMs,
      ...(this.opts.ca !== undefined ? { ca: this.opts.ca } : {}),
    };
    const send = u.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve) => {
      const req = send(u, options, (res) => {
        res.resume();
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 300 ? 'ok' : `HTTP ${code}`);
        });
        res.on('error', (err) => resolve(err.message));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.opts.requestTimeoutMs} ms`)));
      req.on('error', (err) => resolve(err.message));
      req.end(body);
    });
  }
}
