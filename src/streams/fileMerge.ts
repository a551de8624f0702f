/**
 * Several audit log files as one stream in time order: a rotated set (`audit.log`,
 * `audit-2026-11-29T10-00-00.000.log`, `...log.gz`) in whatever order it was given, or the logs of
 * several API servers. Files are ordered by the time of their first event and merged by event
 * time where they overlap: a streaming k-way merge that keeps each file's own order, as mergeOrder
 * does for a lab's sinks. It holds one chunk's events for each file being merged, and opens a
 * file only when the merge reaches its first event, so a long rotated set is read one file at a
 * time.
 */
import type { SkippedLine } from './events.js';
import { type LogFile, type LogReader, openLog } from './logFiles.js';
import { EARLIEST, keyBefore, type ReadEvent, type TimeKey, timeKey } from './merge.js';

/** A file to merge: where it sorts, and how to open it for reading. */
export interface MergeSource {
  file: LogFile;
  /** The key of its first timed event (EARLIEST when it has none near its start). */
  first: TimeKey;
  /** Its place among the files as given: first of equals. */
  order: number;
  /** Opens it for reading from its start (or hands back the reader that peeked, for stdin). */
  open(): Promise<LogReader>;
}

/** Chunks read to find a file's first time before giving up and sorting it first. */
const PEEK_CHUNKS = 4;

/**
 * Reads `reader` until its first timed event, so the file can be placed among the others. The
 * events read are handed back with it: for a file that can be opened again they are dropped (and
 * the reader closed) to hold nothing per file; standard input keeps them.
 */
export async function peekFirst(reader: LogReader): Promise<{ first: TimeKey; events: ReadEvent[] }> {
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
export interface MergeOut {
  event(e: ReadEvent): void;
  /** Called before waiting for more input: hand on what is ready (stdin may be slow). */
  flush(): void;
  /** A file read to its end: true to keep its reader open there, for following; else it is finished and closed. */
  keep(reader: LogReader): boolean;
}

interface Cursor {
  src: MergeSource;
  reader: LogReader;
  batch: ReadEvent[];
  at: number;
  /** The key of batch[at]. */
  key: TimeKey;
  ended: boolean;
}

/** a's head comes out before b's: earlier, or as early and given first. */
const before = (aKey: TimeKey, aOrder: number, bKey: TimeKey, bOrder: number) => keyBefore(aKey, bKey) || (!keyBefore(bKey, aKey) && aOrder < bOrder);

/**
 * Merges `sources` into `out` until they end or `signal` aborts. Returns the readers `out` kept at
 * their end (following goes on from there).
 */
export async function mergeFiles(sources: readonly MergeSource[], out: MergeOut, signal: AbortSignal): Promise<LogReader[]> {
  const pending = [...sources].sort((a, b) => (before(a.first, a.order, b.first, b.order) ? -1 : 1));
  const active: Cursor[] = [];
  const kept: LogReader[] = [];

  /** Makes batch[at] the cursor's head, reading on as needed; false once the file has ended. */
  const fill = async (c: Cursor, previous: TimeKey): Promise<boolean> => {
    while (c.at >= c.batch.length) {
      if (c.ended || signal.aborted) return false;
      out.flush();
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
    c.key = timeKey(c.batch[c.at]!.event, previous);
    return true;
  };
  const activate = async (src: MergeSource) => {
    const c: Cursor = { src, reader: await src.open(), batch: [], at: 0, key: EARLIEST, ended: false };
    if (await fill(c, EARLIEST)) active.push(c);
  };

  while (!signal.aborted) {
    if (active.length === 0) {
      const next = pending.shift();
      if (next === undefined) break;
      await activate(next);
      continue;
    }
    let best = active[0]!;
    for (const c of active) if (before(c.key, c.src.order, best.key, best.src.order)) best = c;
    const due = pending[0];
    if (due !== undefined && !before(best.key, best.src.order, due.first, due.order)) {
      await activate(pending.shift()!);
      continue;
    }
    if (active.length === 1 && due === undefined) {
      // The last file, alone: the rest of it in its own order, without keys.
      await drain(best, out, fill);
      break;
    }
    out.event(best.batch[best.at++]!);
    if (!(await fill(best, best.key))) active.splice(active.indexOf(best), 1);
  }
  for (const c of active) if (!c.ended) await c.reader.close();
  return kept;
}

async function drain(c: Cursor, out: MergeOut, fill: (c: Cursor, previous: TimeKey) => Promise<boolean>): Promise<void> {
  do {
    for (let i = c.at; i < c.batch.length; i++) out.event(c.batch[i]!);
    c.at = c.batch.length;
  } while (await fill(c, c.key));
}

/** Peeks every file, so the merge can order them; a file that cannot be read is a UserError here, before anything is shown. */
export async function mergeSources(files: readonly LogFile[], stdin: NodeJS.ReadableStream | undefined, refused: (line: SkippedLine) => void): Promise<MergeSource[]> {
  const sources: MergeSource[] = [];
  for (const [order, file] of files.entries()) {
    if (file.path === '-') {
      // Read once: the reader that peeked goes on, its events first.
      const reader = await openLog(file, stdin, refused);
      const { first, events } = await peekFirst(reader);
      reader.putBack(events);
      sources.push({ file, first, order, open: async () => reader });
      continue;
    }
    const reader = await openLog(file, stdin, () => {});
    const { first } = await peekFirst(reader).finally(() => reader.close());
    sources.push({ file, first, order, open: () => openLog(file, stdin, refused) });
  }
  return sources;
}
