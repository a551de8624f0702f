/**
 * `--file`: audit log files read as one source. What they hold now comes first, merged in time
 * order across files (fileMerge.ts), filtered, cut to the last N when asked, and handed on in
 * bounded batches; then, when following, what is appended to the plain files, through their
 * rotation (fileFollow.ts). Gzip files, standard input and pipes are read to their end and not followed.
 */
import { noSkips, noteSkipped, passes, type Show, type Skipped, type SkippedLine, type SourceQuery } from './events.js';
import { FileFollower } from './fileFollow.js';
import { mergeFiles, mergeSources } from './fileMerge.js';
import { statIdentity } from './follow.js';
import type { LogFile } from './logReader.js';
import { mergeOrder, type ReadEvent } from './merge.js';

/** The most events handed to `show` at once. */
export const MAX_BATCH = 10_000;

/** The last `n` items pushed, in a ring: --tail N over a file of any size holds N events. */
class Ring<T> {
  private readonly items: T[] = [];
  private next = 0;

  constructor(private readonly n: number) {}

  push(item: T): void {
    if (this.n === 0) return;
    if (this.items.length < this.n) this.items.push(item);
    else this.items[this.next] = item;
    this.next = (this.next + 1) % this.n;
  }

  /** Oldest first. */
  all(): T[] {
    return this.items.length < this.n ? this.items : [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}

/** Events that pass the query, handed to `show` in batches of at most MAX_BATCH. */
class Batches {
  private batch: ReadEvent[] = [];
  private ring: Ring<ReadEvent> | null;
  /** What `show` returned for a batch handed on while adding, awaited at the next flush. */
  private showing: void | Promise<void> = undefined;

  constructor(
    private readonly q: SourceQuery,
    private readonly show: Show,
  ) {
    this.ring = q.tail >= 0 ? new Ring(q.tail) : null;
  }

  add(e: ReadEvent): void {
    if (!passes(this.q, e.event)) return;
    if (this.ring !== null) this.ring.push(e);
    else if (this.batch.push(e) >= MAX_BATCH) this.handOn();
  }

  private handOn(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.showing = this.show(batch, false);
  }

  /** Hands on what is gathered (not while --tail N gathers the stored events); resolves when `show` has taken it. */
  flush(): void | Promise<void> {
    this.handOn();
    const showing = this.showing;
    this.showing = undefined;
    return showing;
  }

  /** The end of what was stored: its last batch (or the last N), always given, with storedDone. */
  async storedDone(): Promise<void> {
    await this.showing;
    this.showing = undefined;
    const last = this.ring !== null ? this.ring.all() : this.batch;
    this.ring = null;
    this.batch = [];
    await this.show(last, true);
  }

  /** New events, while following (after storedDone). */
  async addAll(events: readonly ReadEvent[]): Promise<void> {
    for (const e of events) this.add(e);
    await this.flush();
  }
}

/** The same file named twice (a glob and a name) is read once. */
const once = (files: readonly LogFile[]) => files.filter((f, i) => f.path === '-' || files.findIndex((g) => g.path === f.path) === i);

export async function readFiles(given: readonly LogFile[], stdin: NodeJS.ReadableStream | undefined, q: SourceQuery, show: Show): Promise<Skipped> {
  const skipped = noSkips();
  const refused = (line: SkippedLine) => noteSkipped(skipped, line, q.follow ? q.onFirstSkip : undefined);
  const files = once(given);
  // Following waits for a file that is not there yet, as tail -F does; otherwise that is an error.
  const missing: LogFile[] = [];
  if (q.follow) {
    for (const f of files) if (f.path !== '-' && (await statIdentity(f.path)) === undefined) missing.push(f);
    for (const f of missing) q.onWait?.(f.shown);
  }
  const sources = await mergeSources(
    files.filter((f) => !missing.includes(f)),
    stdin,
    refused,
  );
  const batches = new Batches(q, show);
  // A read of stdin waits for its writer, whatever the signal: stopping closes stdin, which ends it.
  const closeStdin = () => (stdin as { destroy?(): void } | undefined)?.destroy?.();
  if (files.some((f) => f.path === '-')) q.signal.addEventListener('abort', closeStdin);
  let kept;
  try {
    kept = await mergeFiles(sources, { event: (e) => batches.add(e), flush: () => batches.flush(), keep: (r) => q.follow && r.plain !== null }, q.signal);
  } finally {
    q.signal.removeEventListener('abort', closeStdin);
  }
  await batches.storedDone();
  if (!q.follow || q.signal.aborted) {
    await Promise.all(kept.map((r) => r.close()));
    return skipped;
  }
  const followers = [...kept.map((r) => new FileFollower(r.file, r, refused)), ...missing.map((f) => new FileFollower(f, null, refused))];
  try {
    if (followers.length > 0) await follow(followers, q, (events) => batches.addAll(events));
  } finally {
    await Promise.all(followers.map((f) => f.close()));
  }
  return skipped;
}

/** Polls the followers until the signal aborts, handing each poll's events on merged by time. */
async function follow(followers: readonly FileFollower[], q: SourceQuery, deliver: (events: ReadEvent[]) => Promise<void>): Promise<void> {
  while (!q.signal.aborted) {
    let more = false;
    const events: ReadEvent[] = [];
    for (const f of followers) if (await f.poll(events, events.length + MAX_BATCH)) more = true;
    if (events.length > 0) {
      const merged = followers.length > 1 ? mergeOrder(events) : events;
      for (let i = 0; i < merged.length; i += MAX_BATCH) await deliver(merged.slice(i, i + MAX_BATCH));
    }
    if (!more) await sleep(q.pollMs, q.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
