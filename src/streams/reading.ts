/**
 * The one way events are read, whatever the files (streams/source.ts chooses them: a lab's
 * streams, or audit logs given with --file). What they hold now comes first, merged in time order
 * (fileMerge.ts) from lines decoded as the receiver decodes a body (logDecode.ts), filtered, each
 * request once across a lab's sinks (SinkCopies), cut to the last N when asked and handed on in
 * bounded batches; then, when following, what is appended, through rotation (fileFollow.ts).
 */
import { type FSWatcher, watch } from 'node:fs';
import { passes, type Show, type SourceQuery } from './events.js';
import { type EventReader, type MergeSource, mergeFiles } from './fileMerge.js';
import { mergeOrder, type ReadEvent, type SinkCopies } from './merge.js';

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
    if (this.items.length < this.n) return this.items;
    return [...this.items.slice(this.next), ...this.items.slice(0, this.next)];
  }
}

/** Where the last events of `batch` that share the last one's times begin (0: all of them do). */
function lastTimeRun(batch: readonly ReadEvent[]): number {
  const last = batch.at(-1)?.event;
  if (last === undefined) return 0;
  const sameTime = ({ event: e }: ReadEvent) =>
    e.requestReceivedTimestamp === last.requestReceivedTimestamp && e.stageTimestamp === last.stageTimestamp;
  let i = batch.length - 1;
  while (i > 0 && sameTime(batch[i - 1]!)) i--;
  return i;
}

/** Events that pass the query, each request once when `copies` is given, handed to `show` in bounded batches. */
class Batches {
  private batch: ReadEvent[] = [];
  private ring: Ring<ReadEvent> | null;
  /** What `show` returned for a batch handed on while adding, awaited at the next flush. */
  private showing: void | Promise<void> = undefined;
  /** Still reading what is stored (a batch may then keep its end back, see take). */
  private stored = true;

  constructor(
    private readonly q: SourceQuery,
    private readonly show: Show,
    private readonly copies: SinkCopies | undefined,
  ) {
    this.ring = q.tail >= 0 ? new Ring(q.tail) : null;
  }

  add(e: ReadEvent): void {
    if (!passes(this.q, e.event)) return;
    if (this.ring !== null && this.copies === undefined) this.ring.push(e);
    else if (this.batch.push(e) >= MAX_BATCH) this.handOn(false);
  }

  /**
   * The events gathered, each request once. While what is stored is read, the copies of one event
   * in several sinks come out of the merge side by side, but a batch may end between them: the
   * last events of one time wait for the next batch, so that the richest copy is the one shown.
   */
  private take(all: boolean): ReadEvent[] {
    let batch = this.batch;
    this.batch = [];
    if (this.copies === undefined) return batch;
    const from = all || !this.stored ? 0 : lastTimeRun(batch);
    if (from > 0) {
      this.batch = batch.slice(from);
      batch = batch.slice(0, from);
    }
    return this.copies.collapse(batch);
  }

  private handOn(all: boolean): void {
    const batch = this.take(all);
    if (this.ring !== null) {
      for (const e of batch) this.ring.push(e);
      return;
    }
    if (batch.length === 0) return;
    this.showing = this.show(batch, false);
  }

  /** Hands on what is gathered (not while --tail N gathers the stored events); resolves when `show` has taken it. */
  flush(): void | Promise<void> {
    this.handOn(false);
    const showing = this.showing;
    this.showing = undefined;
    return showing;
  }

  /** The end of what was stored: its last batch (or the last N), always given, with storedDone. */
  async storedDone(): Promise<void> {
    await this.showing;
    this.showing = undefined;
    let last = this.take(true);
    this.stored = false;
    if (this.ring !== null) {
      for (const e of last) this.ring.push(e);
      last = this.ring.all();
      this.ring = null;
    }
    await this.show(last, true);
  }

  /** New events, while following (after storedDone). */
  async addAll(events: readonly ReadEvent[]): Promise<void> {
    for (const e of events) this.add(e);
    await this.flush();
  }
}

/** What reads on, once what is stored is read: appended events, new files. */
export interface Follower {
  /** Appends what is new to `out`, stopping once it holds `budget` events or more; true: stopped, more to read. */
  poll(out: ReadEvent[], budget: number): Promise<boolean>;
  close(): Promise<void>;
  /** Its events come from several sinks or files, each in its own order: merged by time. */
  readonly several: boolean;
  /** A directory whose changes wake the poll early (fs.watch); the poll alone bounds the delay. */
  readonly watchDir?: string;
}

/** What to read: the sources to merge, and how to go on from the end of them. */
export interface ReadPlan<R extends EventReader> {
  sources: readonly MergeSource<R>[];
  /** A reader at its end: true to keep it open there, for following; else it is finished and closed. */
  keep(reader: R): boolean;
  /** What follows the kept readers; null: nothing to follow. Called only when following. */
  follow(kept: R[]): Follower | null | Promise<Follower | null>;
  /** A lab's sinks, each request shown once (SinkCopies). */
  copies?: SinkCopies;
}

/**
 * Reads `plan`, handing `show` batches that pass the query, in time order: first what is stored
 * (the last batch with `storedDone` true, always given), then, when following, the new events.
 */
export async function readPlan<R extends EventReader>(plan: ReadPlan<R>, q: SourceQuery, show: Show): Promise<void> {
  const batches = new Batches(q, show, plan.copies);
  const out = { event: (e: ReadEvent) => batches.add(e), flush: () => batches.flush(), keep: (r: R) => plan.keep(r) };
  const kept = await mergeFiles(plan.sources, out, q.signal);
  await batches.storedDone();
  const follower = q.follow && !q.signal.aborted ? await plan.follow(kept) : null;
  if (follower === null) {
    await Promise.all(kept.map((r) => r.close()));
    return;
  }
  try {
    await follow(follower, q, (events) => batches.addAll(events));
  } finally {
    await follower.close();
  }
}

/** Polls `f` until the signal aborts, handing each poll's events on, merged by time. */
async function follow(f: Follower, q: SourceQuery, deliver: (events: ReadEvent[]) => Promise<void>): Promise<void> {
  const wake = new Wakeup(q.signal, f.watchDir);
  try {
    while (!q.signal.aborted) {
      wake.arm();
      const events: ReadEvent[] = [];
      const more = await f.poll(events, MAX_BATCH);
      if (events.length > 0) {
        const merged = f.several ? mergeOrder(events) : events;
        for (let i = 0; i < merged.length; i += MAX_BATCH) await deliver(merged.slice(i, i + MAX_BATCH));
      }
      if (!more) await wake.sleep(q.pollMs);
    }
  } finally {
    wake.close();
  }
}

/** The wait between polls: `ms`, or less when the signal aborts or the watched directory changes. */
class Wakeup {
  private watcher: FSWatcher | null = null;
  private wake: (() => void) | null = null;
  private changed = false;
  private readonly kick = () => {
    this.changed = true;
    this.wake?.();
  };

  constructor(
    private readonly signal: AbortSignal,
    private readonly dir?: string,
  ) {
    signal.addEventListener('abort', this.kick);
  }

  /** Before a poll: what changed until now, it reads. The directory is watched once it is there. */
  arm(): void {
    this.changed = false;
    if (this.watcher !== null || this.dir === undefined) return;
    try {
      const w = watch(this.dir, { persistent: false }, this.kick);
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = null;
      });
      this.watcher = w;
    } catch {
      // No directory yet, or no watch support: the poll alone keeps the promise.
    }
  }

  /** After a poll that read all there was: at once if something changed meanwhile, else at a change or after `ms`. */
  async sleep(ms: number): Promise<void> {
    if (this.signal.aborted || this.changed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  close(): void {
    this.signal.removeEventListener('abort', this.kick);
    this.watcher?.close();
  }
}
