/**
 * One stream per sink: <streamsDir>/<sink>.log in the API server's audit-log format (one v1 Event
 * as JSON per line), rotated by size to <sink>.log.1 ... <sink>.log.N. `tail` reads these files
 * while they are written, so the contract is strict: a line is whole or absent, rotation is a
 * rename of <sink>.log to <sink>.log.1, and nothing else ever renames or rewrites a stream.
 */
import { chmod, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ensurePrivateDir } from '../lab/fsutil.js';

/** Like the API server's --audit-log-maxsize / --audit-log-maxbackup. */
export interface RotateOptions {
  /** Rotate before a write would take <sink>.log past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (<sink>.log.1 newest ... <sink>.log.N oldest); 0 keeps none. */
  maxBackups: number;
}

export interface StreamOptions extends RotateOptions {
  /** Recent auditID+stage keys remembered per sink to drop retried events. */
  dedupeKeys: number;
  /** How much of a stream's end is read at start to seed those keys. */
  seedBytes: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  maxBytes: 100 * 1024 * 1024,
  maxBackups: 5,
  dedupeKeys: 50_000,
  seedBytes: 16 * 1024 * 1024,
};

export function streamFile(streamsDir: string, sink: string): string {
  return join(streamsDir, `${sink}.log`);
}

/** An event to store: its dedupe key and its line (newline included), possibly in pieces. */
export interface Line {
  key: string;
  parts: Buffer[];
}

export function jsonLine(key: string, json: string): Line {
  return { key, parts: [Buffer.from(`${json}\n`)] };
}

export function dedupeKey(auditID: string, stage: string): string {
  return `${auditID}/${stage}`;
}

export interface WriteResult {
  written: number;
  duplicates: number;
}

interface Pending {
  data: Buffer[];
  keys: string[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A set that forgets its oldest keys beyond a cap. Retries come within minutes (the API server
 * gives up after 5 tries over ~80 s), so recent keys are the ones that matter.
 */
class RecentKeys {
  private readonly keys = new Set<string>();
  // Eviction order kept in a ring, not by iterating the Set: deleting a Set's first entries leaves
  // tombstones that every later `values().next()` walks over, which made eviction O(n).
  private readonly ring: (string | undefined)[];
  private next = 0;
  constructor(cap: number) {
    this.ring = new Array<string | undefined>(Math.max(1, cap));
  }
  has(k: string): boolean {
    return this.keys.has(k);
  }
  add(k: string): void {
    if (this.keys.has(k)) return;
    const old = this.ring[this.next];
    if (old !== undefined) this.keys.delete(old);
    this.ring[this.next] = k;
    this.next = (this.next + 1) % this.ring.length;
    this.keys.add(k);
  }
}

const KEY_RE = /"auditID":"([^"\\]*)"/;
const STAGE_RE = /"stage":"([A-Za-z]+)"/;

/** Keys of whole lines in a chunk of a stream, in file order; a partial first line is skipped when not at the file's start. */
function keysOf(text: string, fromStart: boolean): string[] {
  const lines = text.split('\n');
  if (!fromStart) lines.shift();
  const keys: string[] = [];
  for (const line of lines) {
    // Lines are ours (JSON.stringify of a v1 Event): auditIDs are UUIDs and stages plain words.
    const id = KEY_RE.exec(line);
    const stage = STAGE_RE.exec(line);
    if (id && stage) keys.push(dedupeKey(id[1]!, stage[1]!));
  }
  return keys;
}

async function readTail(path: string, bytes: number): Promise<{ text: string; fromStart: boolean } | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return { text: buf.toString('utf8'), fromStart: start === 0 };
  } finally {
    await fh.close();
  }
}

/**
 * A crash can leave the last line half written: cut the file back to its last newline so readers
 * and the dedupe seed only ever see whole lines. Returns the size kept.
 */
export async function repairTornLine(fh: FileHandle): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const chunk = 64 * 1024;
  let end = size;
  const buf = Buffer.alloc(chunk);
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) await fh.truncate(keep);
      return keep;
    }
    end = start;
  }
  await fh.truncate(0);
  return 0;
}

export class SinkStream {
  private fh: FileHandle | null = null;
  private size = 0;
  private readonly stored: RecentKeys;
  /** Keys being written now, with the write that carries them, so a concurrent retry waits for that write. */
  private readonly inflight = new Map<string, Promise<void>>();
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | null = null;

  constructor(
    readonly sink: string,
    readonly path: string,
    private readonly opts: StreamOptions,
  ) {
    this.stored = new RecentKeys(opts.dedupeKeys);
  }

  async open(): Promise<void> {
    const fh = await open(this.path, 'a+', 0o600);
    await chmod(this.path, 0o600);
    this.fh = fh;
    this.size = await repairTornLine(fh);
    await this.seed();
  }

  /** Remembers what the stream already holds, oldest first, so retries of it after a restart are dropped. */
  private async seed(): Promise<void> {
    const chunks: { text: string; fromStart: boolean }[] = [];
    let budget = this.opts.seedBytes;
    for (const path of [this.path, `${this.path}.1`]) {
      if (budget <= 0) break;
      const t = await readTail(path, budget);
      if (!t) continue;
      chunks.unshift(t);
      budget -= t.text.length;
      if (!t.fromStart) break;
    }
    for (const c of chunks) for (const k of keysOf(c.text, c.fromStart)) this.stored.add(k);
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Appends the lines not stored before (by key) and resolves once they are written, so the caller
   * acknowledges only what is on disk. Lines whose key another write is carrying wait for that
   * write: if it fails, this batch fails too and the sender retries both.
   */
  async write(lines: readonly Line[]): Promise<WriteResult> {
    if (this.closed) throw new Error(`stream ${this.sink} is closed`);
    const data: Buffer[] = [];
    const keys: string[] = [];
    const waits = new Set<Promise<void>>();
    let duplicates = 0;
    const batchKeys = new Set<string>();
    for (const l of lines) {
      if (this.stored.has(l.key) || batchKeys.has(l.key)) {
        duplicates++;
        continue;
      }
      const other = this.inflight.get(l.key);
      if (other) {
        waits.add(other);
        duplicates++;
        continue;
      }
      batchKeys.add(l.key);
      keys.push(l.key);
      for (const p of l.parts) data.push(p);
    }
    if (keys.length > 0) {
      const done = new Promise<void>((resolve, reject) => this.queue.push({ data, keys, resolve, reject }));
      for (const k of keys) this.inflight.set(k, done);
      // Marked handled here: every waiter awaits it below or through `waits`.
      done.catch(() => {});
      waits.add(done);
      this.pump();
    }
    await Promise.all(waits);
    return { written: keys.length, duplicates };
  }

  /** One write at a time per file; batches queued meanwhile go out together in the next write. */
  private pump(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    this.idle = new Promise((r) => (this.idleResolve = r));
    const group = this.queue;
    this.queue = [];
    void this.flushGroup(group).finally(() => {
      this.writing = false;
      if (this.queue.length > 0) this.pump();
      else this.idleResolve?.();
    });
  }

  private async flushGroup(group: Pending[]): Promise<void> {
    const parts = group.length === 1 ? group[0]!.data : group.flatMap((p) => p.data);
    let total = 0;
    for (const p of parts) total += p.length;
    try {
      if (this.size > 0 && this.size + total > this.opts.maxBytes) await this.rotate();
      await this.writeAll(parts, total);
      for (const p of group) {
        for (const k of p.keys) {
          this.stored.add(k);
          this.inflight.delete(k);
        }
        p.resolve();
      }
    } catch (err) {
      for (const p of group) {
        for (const k of p.keys) this.inflight.delete(k);
        p.reject(err);
      }
    }
  }

  /**
   * One writev of the lines' pieces (mostly views into the request body): no copy of the batch,
   * which at full speed held a megabyte of external memory per sink per batch until a full GC.
   */
  private async writeAll(parts: Buffer[], total: number): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error(`stream ${this.sink} is not open`);
    try {
      let { bytesWritten } = await fh.writev(parts);
      if (bytesWritten < total) {
        const rest = Buffer.concat(parts, total).subarray(bytesWritten);
        let off = 0;
        while (off < rest.length) {
          const r = await fh.write(rest, off, rest.length - off);
          off += r.bytesWritten;
        }
        bytesWritten = total;
      }
      this.size += total;
    } catch (err) {
      // Take back a partial write (a full disk): a line is whole or absent.
      await fh.truncate(this.size).catch(() => {});
      throw err;
    }
  }

  /** <sink>.log.(N-1) -> .N ... <sink>.log -> .1; the oldest beyond the cap is removed. */
  private async rotate(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
    const max = this.opts.maxBackups;
    if (max <= 0) {
      await rm(this.path, { force: true });
    } else {
      await rm(`${this.path}.${max}`, { force: true });
      for (let i = max - 1; i >= 1; i--) {
        await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(this.path, `${this.path}.1`);
    }
    this.fh = await open(this.path, 'a+', 0o600);
    await chmod(this.path, 0o600);
    this.size = 0;
  }

  /** Waits for queued writes, syncs and closes. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing || this.queue.length > 0) await this.idle;
    const fh = this.fh;
    this.fh = null;
    if (fh) {
      await fh.sync().catch(() => {});
      await fh.close();
    }
  }
}

/** Every sink's stream, opened on first use. */
export class StreamStore {
  private readonly streams = new Map<string, Promise<SinkStream>>();
  readonly opts: StreamOptions;

  constructor(
    readonly dir: string,
    opts: Partial<StreamOptions> = {},
  ) {
    this.opts = { ...DEFAULT_STREAM_OPTIONS, ...opts };
  }

  async init(): Promise<void> {
    await ensurePrivateDir(this.dir);
  }

  stream(sink: string): Promise<SinkStream> {
    let s = this.streams.get(sink);
    if (!s) {
      const created = new SinkStream(sink, streamFile(this.dir, sink), this.opts);
      s = created.open().then(() => created);
      // A failed open is retried by the next batch rather than remembered.
      s.catch(() => this.streams.delete(sink));
      this.streams.set(sink, s);
    }
    return s;
  }

  async write(sink: string, lines: readonly Line[]): Promise<WriteResult> {
    return (await this.stream(sink)).write(lines);
  }

  async close(): Promise<void> {
    const all = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
  }
}

/** The sinks that have a stream on disk (for `status` and `tail`). */
export async function listStreams(streamsDir: string): Promise<string[]> {
  try {
    return (await readdir(streamsDir)).filter((f) => f.endsWith('.log')).map((f) => f.slice(0, -'.log'.length)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
