/**
 * Forwards a sink's events to an external endpoint (`sink create --url`) the way the API server's
 * webhook backend would: EventList batches over HTTPS, throttled by a token bucket (qps, burst),
 * retried with backoff. It never blocks the lab's own streams: events wait in memory, that backlog
 * is bounded in bytes, and what cannot be delivered is counted and logged, not waited for.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Throttle } from '../audit/model.js';

/**
 * What one forwarding sink holds at most: its events as JSON, queued and in flight. A count bound
 * let RequestResponse events of 1 MiB grow the receiver by gigabytes; 64 MiB still holds the API
 * server's own webhook buffer (10,000 events) of events up to 6.5 KiB, which covers Metadata and
 * most Request events, and several dead endpoints together stay within a few hundred MiB. Per
 * sink, not shared: one dead endpoint must not take another sink's room.
 */
export const FORWARD_BACKLOG_BYTES = 64 * 1024 * 1024;

/**
 * A batch's events at most, in bytes: our own receiver refuses bodies over 16 MiB, and a quarter
 * of the backlog keeps room for new events while a batch waits for its retries.
 */
const BATCH_BYTES = 16 * 1024 * 1024;

export interface ForwardOptions {
  url: string;
  throttle: Throttle;
  /** CA certificates to trust instead of the system's (PEM); users add theirs with NODE_EXTRA_CA_CERTS. */
  ca?: string;
  /** Events per batch, as the API server's --audit-webhook-batch-max-size. */
  batchMax?: number;
  /** How long to wait for a batch to fill. */
  maxWaitMs?: number;
  /** Bytes held at most (FORWARD_BACKLOG_BYTES); beyond it the oldest queued events are dropped and counted. */
  backlogBytes?: number;
  /** Backoff before the first retry, multiplied by 1.5 each time (the API server's is 10 s). */
  initialBackoffMs?: number;
  /** Tries per batch, the first included. */
  tries?: number;
  requestTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ForwardStats {
  /** Events taken in (not dropped at once). */
  queued: number;
  sent: number;
  batches: number;
  /** Events that will never be sent: pushed out of a full backlog, given up after every try, or left at stop. */
  dropped: number;
  failedTries: number;
  /** Tries after a failed one. */
  retries: number;
  /** Events held now, queued and in flight, and their bytes (JSON). */
  backlogEvents: number;
  backlogBytes: number;
  /** The most bytes ever held, never above backlogLimitBytes. */
  peakBytes: number;
  backlogLimitBytes: number;
  lastError: { message: string; at: string } | null;
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
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

const LIST_HEAD = Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[');
const LIST_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

type Settings = Required<Omit<ForwardOptions, 'ca' | 'log'>> & Pick<ForwardOptions, 'ca' | 'log'>;

export class Forwarder {
  /**
   * Each event as the JSON it is sent as, made once when it arrives: its bytes are what the
   * backlog counts, exactly, and a retry sends the same bytes again.
   */
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  /** The batch being sent (or waiting for its next try); held, so counted in the backlog. */
  private inflight: Buffer[] = [];
  private inflightBytes = 0;
  private readonly stats = { queued: 0, sent: 0, batches: 0, dropped: 0, failedTries: 0, retries: 0, peakBytes: 0 };
  private lastError: ForwardStats['lastError'] = null;
  /** Events pushed out of the full backlog since it last had room: one log line per such spell. */
  private overflow = 0;
  private readonly bucket: TokenBucket;
  private readonly opts: Settings;
  private readonly batchBytes: number;
  private readonly stop = new AbortController();
  private wake: (() => void) | null = null;
  private readonly loop: Promise<void>;
  private closing = false;

  constructor(options: ForwardOptions) {
    this.opts = {
      batchMax: 400,
      maxWaitMs: 1000,
      backlogBytes: FORWARD_BACKLOG_BYTES,
      initialBackoffMs: 10_000,
      tries: 5,
      requestTimeoutMs: 30_000,
      ...options,
    };
    this.batchBytes = Math.min(BATCH_BYTES, Math.floor(this.opts.backlogBytes / 4));
    this.bucket = new TokenBucket(options.throttle.qps, options.throttle.burst);
    this.loop = this.run();
  }

  /**
   * Queues events; never waits. When they do not fit, the oldest queued events make room: every
   * event is already in the sink's stream, and once the endpoint is back the newest are the ones
   * worth sending. Returns how many events were dropped.
   */
  push(events: readonly object[]): number {
    if (this.closing) return events.length;
    const limit = this.opts.backlogBytes;
    let dropped = 0;
    for (const e of events) {
      const data = Buffer.from(JSON.stringify(e));
      // Only a batch in flight and an event larger than the rest of the room get here.
      if (this.inflightBytes + data.length > limit) {
        dropped++;
        continue;
      }
      while (this.inflightBytes + this.queuedBytes + data.length > limit) {
        this.queuedBytes -= this.queue.shift()!.length;
        dropped++;
      }
      this.queue.push(data);
      this.queuedBytes += data.length;
      this.stats.queued++;
    }
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.inflightBytes + this.queuedBytes);
    if (dropped > 0) {
      this.stats.dropped += dropped;
      if (this.overflow === 0) {
        this.opts.log?.(
          `forward ${this.opts.url}: backlog full (${limit} bytes): dropping the oldest events not yet sent (they stay in the sink's stream)`,
        );
      }
      this.overflow += dropped;
    }
    this.wake?.();
    return dropped;
  }

  snapshot(): ForwardStats {
    return {
      ...this.stats,
      backlogEvents: this.inflight.length + this.queue.length,
      backlogBytes: this.inflightBytes + this.queuedBytes,
      backlogLimitBytes: this.opts.backlogBytes,
      lastError: this.lastError,
    };
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
      this.queuedBytes = 0;
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
      if (!this.batchFull() && !this.closing) {
        await Promise.race([sleep(this.opts.maxWaitMs, signal), new Promise<void>((r) => (this.wake = r))]);
        this.wake = null;
        if (!this.batchFull() && !this.closing) await sleep(0, signal);
      }
      const delay = this.bucket.delayMs();
      if (delay > 0) await sleep(delay, signal);
      if (signal.aborted) return;
      this.bucket.take();
      this.takeBatch();
      await this.deliver(signal);
      this.inflight = [];
      this.inflightBytes = 0;
    }
  }

  private batchFull(): boolean {
    return this.queue.length >= this.opts.batchMax || this.queuedBytes >= this.batchBytes;
  }

  /** Moves the oldest events into the batch in flight: up to batchMax of them, and batchBytes (one at least). */
  private takeBatch(): void {
    let n = 0;
    let bytes = 0;
    while (
      n < this.queue.length &&
      n < this.opts.batchMax &&
      (n === 0 || bytes + this.queue[n]!.length <= this.batchBytes)
    ) {
      bytes += this.queue[n]!.length;
      n++;
    }
    this.inflight = this.queue.splice(0, n);
    this.inflightBytes = bytes;
    this.queuedBytes -= bytes;
  }

  private async deliver(signal: AbortSignal): Promise<void> {
    const batch = this.inflight;
    let backoff = this.opts.initialBackoffMs;
    for (let attempt = 1; attempt <= this.opts.tries; attempt++) {
      if (attempt > 1) this.stats.retries += 1;
      const outcome = await this.post(batch, signal);
      if (outcome === 'ok') {
        this.stats.sent += batch.length;
        this.stats.batches += 1;
        if (this.overflow > 0) {
          this.opts.log?.(
            `forward ${this.opts.url}: sending again; ${this.overflow} events were dropped while the backlog was full`,
          );
          this.overflow = 0;
        }
        return;
      }
      this.stats.failedTries += 1;
      this.lastError = { message: outcome, at: new Date().toISOString() };
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

  /** POSTs the events as one EventList, written piece by piece: no copy of the batch is made. */
  private post(batch: readonly Buffer[], signal: AbortSignal): Promise<'ok' | string> {
    const u = new URL(this.opts.url);
    let length = LIST_HEAD.length + LIST_TAIL.length + Math.max(0, batch.length - 1);
    for (const b of batch) length += b.length;
    const options: RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': length },
      timeout: this.opts.requestTimeoutMs,
      // A stop does not wait for an endpoint that never answers.
      signal,
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
      req.cork();
      req.write(LIST_HEAD);
      batch.forEach((b, i) => {
        if (i > 0) req.write(COMMA);
        req.write(b);
      });
      req.end(LIST_TAIL);
    });
  }
}
