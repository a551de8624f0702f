/**
 * Several audit log files as one stream in time order: a rotated set (`audit.log`,
 * `audit-2026-11-29T10-00-00.000.log`, `...log.gz`) in whatever order it was given, or the logs of
 * several API servers. Files are ordered by the time of their first event and merged by event
 * time where they overlap: a streaming k-way merge that keeps each file's own order, as mergeOrder
 * does for a lab's sinks. It holds one chunk's events for each file being merged, and opens a
 * file only when the merge reaches its first event, so a long rotated set is read one file at a
 * time.
 */
import { type StoredEvent, timestampMicros } from '../audit/filter.js';
import type { SkippedLine } from './events.js';
import { CHUNK_BYTES } from './logChunks.js';
import { openLog } from './logFiles.js';
import type { LogFile } from './logReader.js';
import type { LogReader } from './logReader.js';
import { EARLIEST, type ReadEvent, type TimeKey, timeKey } from './merge.js';

/** What the merge reads: a file (LogReader), or a lab sink's files one after another (labStreams.ts SinkChain). */
export interface EventReader {
  /** The events of the next chunk (maybe none); null at the end of what there is now. */
  next(): Promise<ReadEvent[] | null>;
  /** At the end: what was held back for want of a newline or a document's end. */
  finish(): ReadEvent[];
  close(): Promise<void>;
}

/** A file (or a sink's files) to merge: where it sorts, and how to open it for reading. */
export interface MergeSource<R extends EventReader = LogReader> {
  file: LogFile;
  /** The key of its first timed event (EARLIEST when it has none near its start). */
  first: TimeKey;
  /** Its place among the files as given: first of equals. */
  order: number;
  /** Opens it for reading from its start (or hands back the reader that peeked, for stdin). */
  open(): Promise<R>;
}

/** Read to find a file's first time: small chunks (a rotated set may be hundreds of files), up to 1 MiB. */
const PEEK_CHUNK_BYTES = 64 * 1024;
const PEEK_CHUNKS = 16;

/**
 * Reads `reader` until its first timed event, so the file can be placed among the others. The
 * events read are handed back with it: for a file that can be opened again they are dropped (and
 * the reader closed) to hold nothing per file; standard input keeps them.
 */
async function peekFirst(reader: LogReader): Promise<{ first: TimeKey; events: ReadEvent[] }> {
  const events: ReadEvent[] = [];
  for (let n = 0; n < PEEK_CHUNKS; n++) {
    const batch = await reader.next();
    if (batch === null) break;
    events.push(...batch);
    for (const e of batch) {
      const key = timeKey(e.event, EARLIEST);
      if (key !== EARLIEST) return { first: key, events };
    }
  }
  return { first: EARLIEST, events };
}

/** Where the merge's events go. */
export interface MergeOut<R extends EventReader = LogReader> {
  event(e: ReadEvent): void;
  /** Called before waiting for more input: hand on what is ready (stdin may be slow); awaited. */
  flush(): void | Promise<void>;
  /** A file read to its end: true to keep its reader open there, for following; else it is finished and closed. */
  keep(reader: R): boolean;
}

/**
 * The merge key of a file's head event, by merge.ts timeKey's rule, kept cheap for a million
 * events: no array per event, and the stage time read only when received times tie.
 */
class HeadKey {
  /** When the request was received (or, lacking it, the stage's time). */
  first = -Infinity;
  private second = -Infinity;
  /** The event whose stage time `second` is, not read yet. */
  private unread: StoredEvent | null = null;

  static of(key: TimeKey): HeadKey {
    const k = new HeadKey();
    [k.first, k.second] = key;
    return k;
  }

  /** Moves to `e`'s key; an event without times keeps the key before it. */
  set(e: StoredEvent): void {
    const received = timestampMicros(e.requestReceivedTimestamp);
    if (received !== undefined) {
      this.first = received;
      this.unread = e;
      return;
    }
    const stageAt = timestampMicros(e.stageTimestamp);
    if (stageAt === undefined) return;
    this.first = stageAt;
    this.second = stageAt;
    this.unread = null;
  }

  private get tie(): number {
    if (this.unread !== null) {
      this.second = timestampMicros(this.unread.stageTimestamp) ?? this.first;
      this.unread = null;
    }
    return this.second;
  }

  /** Strictly earlier than `o`. */
  before(o: HeadKey): boolean {
    return this.first < o.first || (this.first === o.first && this.tie < o.tie);
  }
}

interface Cursor<R extends EventReader> {
  src: MergeSource<R>;
  order: number;
  reader: R;
  batch: ReadEvent[];
  /** batch[at] is the head, and `key` its key. */
  at: number;
  key: HeadKey;
  ended: boolean;
}

/** Comes out before the other: earlier, or as early and given first. */
const before = (a: { key: HeadKey; order: number }, b: { key: HeadKey; order: number }) =>
  a.key.before(b.key) || (!b.key.before(a.key) && a.order < b.order);

/**
 * Merges `sources` into `out` until they end or `signal` aborts. Returns the readers `out` kept at
 * their end (following goes on from there).
 */
export async function mergeFiles<R extends EventReader>(
  sources: readonly MergeSource<R>[],
  out: MergeOut<R>,
  signal: AbortSignal,
): Promise<R[]> {
  const pending = sources
    .map((src) => ({ src, key: HeadKey.of(src.first), order: src.order }))
    .sort((a, b) => (before(a, b) ? -1 : 1));
  const active: Cursor<R>[] = [];
  const kept: R[] = [];

  /** Reads on until the cursor has a head; false once its file has ended. */
  const fill = async (c: Cursor<R>): Promise<boolean> => {
    while (c.at >= c.batch.length) {
      if (c.ended || signal.aborted) return false;
      await out.flush();
      const batch = await c.reader.next();
      if (batch === null) {
        c.ended = true;
        if (out.keep(c.reader)) {
          kept.push(c.reader);
          c.batch = [];
        } else {
          c.batch = c.reader.finish();
          await c.reader.close();
        }
      } else c.batch = batch;
      c.at = 0;
    }
    c.key.set(c.batch[c.at]!.event);
    return true;
  };

  while (!signal.aborted) {
    const due = pending[0];
    let best = active[0];
    for (let i = 1; i < active.length; i++) if (before(active[i]!, best!)) best = active[i];
    if (due !== undefined && (best === undefined || !before(best, due))) {
      // The next file's first event comes before every head: it joins the merge.
      pending.shift();
      const c: Cursor<R> = {
        src: due.src,
        order: due.order,
        reader: await due.src.open(),
        batch: [],
        at: 0,
        key: new HeadKey(),
        ended: false,
      };
      if (await fill(c)) active.push(c);
      continue;
    }
    if (best === undefined) break;
    if (active.length === 1 && due === undefined) {
      // The last file, alone: the rest of it in its own order, without keys.
      await drain(best, out, fill);
      break;
    }
    out.event(best.batch[best.at]!);
    if (++best.at < best.batch.length) best.key.set(best.batch[best.at]!.event);
    else if (!(await fill(best))) active.splice(active.indexOf(best), 1);
  }
  for (const c of active) if (!c.ended) await c.reader.close();
  return kept;
}

async function drain<R extends EventReader>(
  c: Cursor<R>,
  out: MergeOut<R>,
  fill: (c: Cursor<R>) => Promise<boolean>,
): Promise<void> {
  do {
    for (let i = c.at; i < c.batch.length; i++) out.event(c.batch[i]!);
    c.at = c.batch.length;
  } while (await fill(c));
}

/** Peeks every file, so the merge can order them; a file that cannot be read is a UserError here, before anything is shown. */
export async function mergeSources(
  files: readonly LogFile[],
  stdin: NodeJS.ReadableStream | undefined,
  refused: (line: SkippedLine) => void,
): Promise<MergeSource[]> {
  const sources: MergeSource[] = [];
  for (const [order, file] of files.entries()) {
    // What a file that is read again refuses is reported then; what comes only once, now.
    let once = false;
    const reader = await openLog(
      file,
      stdin,
      (line) => {
        if (once) refused(line);
      },
      file.path === '-' ? CHUNK_BYTES : PEEK_CHUNK_BYTES,
    );
    once = reader.once;
    if (once) {
      // Read once: the reader that peeked goes on, its events first.
      const { first, events } = await peekFirst(reader);
      reader.putBack(events);
      sources.push({ file, first, order, open: async () => reader });
      continue;
    }
    const { first } = await peekFirst(reader).finally(() => reader.close());
    sources.push({ file, first, order, open: () => openLog(file, stdin, refused) });
  }
  return sources;
}
