/**
 * Reading the stream files back while the receiver writes them (see streams.ts for the contract:
 * <stem>.log, appended whole lines, rotated by renaming to <stem>.log.1, .2, ... higher = older; the
 * stem is the sink's name, or for a long name a shortened one: streams/names.ts maps them).
 *
 * Stream files are opened only as regular files, never through a link (openOwnFile): anything else
 * there is an error naming it, not a reader waiting on a FIFO or reading another file.
 *
 * Every file is read through a descriptor held open, so a file renamed away by rotation is still
 * read to its end before the files that replaced it; files are told apart by identity (device,
 * inode, birth time), never by name, so nothing is read twice or skipped when names shift under
 * us. A line is handed out only once its newline is there.
 */
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openOwnFile } from '../lab/safety.js';
import { parseStreamFileName, SinkNames, sinkFileStem } from './names.js';

export interface StreamLine {
  sink: string;
  /** The file it was read from, by the name it had when opened: default.log, default.log.1. */
  file: string;
  /** 1-based line number in that file. */
  lineNo: number;
  /** The line as stored, without its newline. */
  text: string;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Sinks with a stream on disk, rotated-only ones included (a deleted sink's events stay readable);
 * `known` (the lab's sinks) helps name streams whose stem is hashed.
 */
export async function listStreamSinks(dir: string, known: readonly string[] = []): Promise<string[]> {
  const names = new SinkNames(dir, known);
  const sinks = new Set<string>();
  for (const name of await readdirOrEmpty(dir)) {
    const p = parseStreamFileName(name);
    if (p) sinks.add(await names.sinkOf(p.stem));
  }
  return [...sinks].sort();
}

interface Listing {
  rotated: { generation: number; name: string }[];
}

interface OpenFile {
  fh: FileHandle;
  key: string;
  name: string;
  /** Just past the last newline handed out. */
  offset: number;
  lineNo: number;
  /** Still <sink>.log, so more may come; false once rotated or removed. */
  live: boolean;
  /** Polls a finished file has ended without a newline. */
  waited: number;
}

interface SinkFiles {
  /** Files being read, oldest first; only the last can be live. */
  queue: OpenFile[];
  /** Identities already opened (with polls since last present), so a rotated file is never read again under its new name. */
  seen: Map<string, number>;
  /** The file last followed as <sink>.log. */
  lastLive: string | undefined;
}

export interface ReaderOptions {
  /** Only this sink; by default every sink, including ones that appear later. */
  sink?: string;
  /** The lab's sinks, to name streams whose stem is hashed when their name file is missing. */
  known?: readonly string[];
  /**
   * Polls a rotated file may end without a newline before that last line is taken as complete;
   * newer files of its sink wait meanwhile, to keep the order. 0 when reading once (--no-follow).
   */
  graceTicks?: number;
}

const CHUNK = 4 * 1024 * 1024;
const FORGET_AFTER_POLLS = 50;

export function identity(s: { dev: number; ino: number; birthtimeMs: number }): string {
  // The birth time guards against a deleted file's inode number coming back for a new one.
  return `${s.dev}:${s.ino}:${s.birthtimeMs}`;
}

export async function statIdentity(path: string): Promise<string | undefined> {
  try {
    return identity(await stat(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads what is new in the stream files at each `poll()`: on the first, everything stored
 * (rotated files oldest first, then <sink>.log); after that, only what was appended since,
 * across rotations and new sinks.
 */
export class StreamReader {
  /** By stem. */
  private readonly sinks = new Map<string, SinkFiles>();
  private readonly grace: number;
  private readonly names: SinkNames;
  private readonly onlyStem: string | undefined;

  constructor(
    readonly dir: string,
    opts: ReaderOptions = {},
  ) {
    this.grace = opts.graceTicks ?? 10;
    this.names = new SinkNames(dir, opts.known ?? (opts.sink !== undefined ? [opts.sink] : []));
    this.onlyStem = opts.sink !== undefined ? sinkFileStem(opts.sink) : undefined;
  }

  async poll(): Promise<StreamLine[]> {
    const listing = new Map<string, Listing>();
    for (const name of await readdirOrEmpty(this.dir)) {
      const p = parseStreamFileName(name);
      if (!p || (this.onlyStem !== undefined && p.stem !== this.onlyStem)) continue;
      let l = listing.get(p.stem);
      if (!l) listing.set(p.stem, (l = { rotated: [] }));
      if (p.generation > 0) l.rotated.push({ generation: p.generation, name });
    }
    const out: StreamLine[] = [];
    const names = new Set([...listing.keys(), ...this.sinks.keys()]);
    for (const stem of [...names].sort()) await this.pollSink(stem, await this.names.sinkOf(stem), listing.get(stem) ?? { rotated: [] }, out);
    return out;
  }

  private async pollSink(stem: string, sink: string, listing: Listing, out: StreamLine[]): Promise<void> {
    let files = this.sinks.get(stem);
    if (!files) this.sinks.set(stem, (files = { queue: [], seen: new Map(), lastLive: undefined }));
    const { queue, seen } = files;
    const inQueue = (key: string) => queue.some((f) => f.key === key);

    // The current file by path, not from the listing: a stat resolves a name atomically, while a
    // directory listing taken during a rename may miss the file.
    const currentName = `${stem}.log`;
    const currentKey = await statIdentity(join(this.dir, currentName));
    const rotated: { name: string; key: string }[] = [];
    for (const r of listing.rotated.sort((a, b) => b.generation - a.generation)) {
      const key = await statIdentity(join(this.dir, r.name));
      if (key !== undefined) rotated.push({ name: r.name, key });
    }

    // Forget files gone for a while, so an identity that comes back much later (an inode number
    // reused where there is no birth time) reads as the new file it is.
    const present = new Set(rotated.map((r) => r.key));
    if (currentKey !== undefined) present.add(currentKey);
    for (const [k, missed] of seen) {
      if (present.has(k) || inQueue(k)) seen.set(k, 0);
      else if (missed >= FORGET_AFTER_POLLS) seen.delete(k);
      else seen.set(k, missed + 1);
    }

    const live = queue.find((f) => f.live);
    if (live && live.key !== currentKey) live.live = false; // rotated away (or removed): finish it, then go on

    // Rotated files not read yet: on the first poll the stored backlog, later any file that was
    // <sink>.log only between two polls. Oldest first, after what the queue already holds.
    for (const r of rotated) {
      if (seen.has(r.key) || inQueue(r.key)) continue;
      const f = await this.openAs(r.name, r.key, false);
      if (f) {
        queue.push(f);
        seen.set(f.key, 0);
      }
    }
    // `seen` is not consulted here: without birth times a new <sink>.log may reuse the inode of
    // a rotated file deleted just before, and it must still be read.
    if (!queue.some((f) => f.live) && currentKey !== undefined && !inQueue(currentKey) && currentKey !== files.lastLive) {
      const f = await this.openAs(currentName, currentKey, true);
      if (f) {
        queue.push(f);
        seen.set(f.key, 0);
        files.lastLive = f.key;
      }
    }

    while (queue.length > 0) {
      const f = queue[0]!;
      const partial = await this.readLines(f, sink, out);
      if (f.live) break;
      if (partial !== undefined) {
        // A finished file should end with a newline; give a late writer a moment before moving on.
        if (f.waited++ < this.grace) break;
        f.lineNo++;
        out.push({ sink, file: f.name, lineNo: f.lineNo, text: partial });
      }
      queue.shift();
      await f.fh.close();
    }
  }

  /** Opens a file and checks it is still the one that was listed (a rotation may have moved names meanwhile). */
  private async openAs(name: string, key: string, live: boolean): Promise<OpenFile | null> {
    let fh: FileHandle;
    try {
      fh = await openOwnFile(join(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if (identity(await fh.stat()) !== key) {
      // Names moved between listing and opening: the next poll sees the settled state.
      await fh.close();
      return null;
    }
    return { fh, key, name, offset: 0, lineNo: 0, live, waited: 0 };
  }

  /** Hands out the complete lines past `offset`; returns the trailing partial line, if any. */
  private async readLines(f: OpenFile, sink: string, out: StreamLine[]): Promise<string | undefined> {
    const { size } = await f.fh.stat();
    if (size < f.offset) {
      // Truncated in place (not how audit-lab rotates, but copytruncate tools do): start over.
      f.offset = 0;
      f.lineNo = 0;
    }
    let pos = f.offset;
    let carry: Buffer = Buffer.alloc(0);
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
      const { bytesRead } = await f.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
        f.lineNo++;
        // Splitting bytes at \n never cuts a UTF-8 sequence, so each line decodes on its own.
        out.push({ sink, file: f.name, lineNo: f.lineNo, text: data.toString('utf8', start, nl) });
        start = nl + 1;
      }
      // `data` begins at f.offset (the carry is what lies past the last newline).
      f.offset += start;
      carry = Buffer.from(data.subarray(start));
    }
    if (carry.length === 0) return undefined;
    return carry.toString('utf8');
  }

  async close(): Promise<void> {
    const all = [...this.sinks.values()].flatMap((s) => s.queue);
    this.sinks.clear();
    await Promise.all(all.map((f) => f.fh.close().catch(() => {})));
  }
}

export interface FollowOptions {
  signal: AbortSignal;
  /** The poll that keeps the promise when fs.watch says nothing (network filesystems, no inotify). */
  intervalMs?: number;
  /** Wake early on fs.watch events (default true). */
  watch?: boolean;
}

/**
 * Polls `reader` until the signal aborts, handing each non-empty batch to `onLines` (awaited, so
 * a slow consumer slows the reading rather than piling up lines). fs.watch wakes it early; the
 * interval alone bounds the delay.
 */
export async function followStreams(
  reader: StreamReader,
  onLines: (lines: StreamLine[]) => void | Promise<void>,
  o: FollowOptions,
): Promise<void> {
  const interval = o.intervalMs ?? 100;
  let wake: (() => void) | null = null;
  let dirty = false;
  let watcher: FSWatcher | null = null;
  const kick = () => {
    dirty = true;
    wake?.();
  };
  const tryWatch = () => {
    if (watcher !== null || o.watch === false) return;
    try {
      const w = watch(reader.dir, { persistent: false }, kick);
      w.on('error', () => {
        w.close();
        if (watcher === w) watcher = null;
      });
      watcher = w;
    } catch {
      // No directory yet, or no watch support: the poll alone keeps the promise.
    }
  };
  o.signal.addEventListener('abort', kick);
  try {
    while (!o.signal.aborted) {
      tryWatch();
      dirty = false;
      const lines = await reader.poll();
      if (lines.length > 0) await onLines(lines);
      if (o.signal.aborted || dirty) continue;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, interval);
        wake = done;
      });
    }
  } finally {
    o.signal.removeEventListener('abort', kick);
    // Assigned in a closure, which TypeScript's narrowing does not see.
    (watcher as FSWatcher | null)?.close();
  }
}
