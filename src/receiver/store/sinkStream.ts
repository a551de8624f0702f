/**
 * One sink's stream: <stem>.log appended with group commit (one write and one sync at a time),
 * acknowledged only once on disk, deduplicated by key, rotated by size (see store.ts for the
 * contract readers rely on).
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { recordSinkName } from '../../streams/names.js';
import { DigestMap } from './digestMap.js';
import type { DedupeKey, Line } from './lines.js';
import { openNoFollow } from './links.js';
import type { StreamOptions } from './options.js';
import { shiftRotated } from './rotation.js';
import { seedKeys } from './seed.js';
import { RecentKeys, type SinkKeys } from './sharedKeys.js';
import { repairTornLine } from './tornLine.js';

export interface WriteResult {
  written: number;
  duplicates: number;
}

interface Pending {
  data: Buffer[];
  keys: DedupeKey[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Largest write buffer a stream keeps for reuse. */
const MAX_SCRATCH = 8 * 1024 * 1024;

export class SinkStream {
  private fh: FileHandle | null = null;
  private size = 0;
  /** What this sink stored in the dedupe window, in the table its store's sinks share. */
  private readonly stored: SinkKeys;
  /** Keys being written now, with the write that carries them, so a concurrent retry waits for that write. */
  private readonly inflight = new DigestMap<Promise<void>>();
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;
  private scratch: Buffer | null = null;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | null = null;

  constructor(
    readonly sink: string,
    readonly path: string,
    private readonly opts: StreamOptions,
    keys?: SinkKeys,
  ) {
    this.stored = keys ?? new RecentKeys(opts.dedupeKeys, opts.dedupeWindowMs);
  }

  private get dir(): string {
    return join(this.path, '..');
  }

  /** Opens (creating) <stem>.log for appending, never through a link, and makes its entry durable. */
  private async openCurrent(): Promise<void> {
    const fh = await openNoFollow(this.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      // The mode given to open() is masked by the umask, and an existing file keeps its own.
      await fh.chmod(0o600);
      await this.opts.syncDir(this.dir);
    } catch (err) {
      await fh.close();
      throw err;
    }
    this.fh = fh;
  }

  async open(): Promise<void> {
    await recordSinkName(this.dir, this.sink);
    await this.openCurrent();
    try {
      this.size = await repairTornLine(this.fh!);
      await this.seed();
    } catch (err) {
      await this.fh?.close();
      this.fh = null;
      throw err;
    }
  }

  /** Remembers the keys the stream's files already hold within the dedupe window (seed.ts). */
  private seed(): Promise<void> {
    return seedKeys({ path: this.path, fh: this.fh!, size: this.size }, this.opts, this.stored);
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Appends the lines not stored before (by key) and resolves once they are written and synced,
   * so the caller acknowledges only what is on disk. Lines whose key another write is carrying wait for that
   * write: if it fails, this batch fails too and the sender retries both.
   */
  async write(lines: readonly Line[]): Promise<WriteResult> {
    if (this.closed) throw new Error(`stream ${this.sink} is closed`);
    this.stored.expire(this.opts.now());
    const data: Buffer[] = [];
    const keys: DedupeKey[] = [];
    const waits = new Set<Promise<void>>();
    let duplicates = 0;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Marked handled here: every waiter awaits it below or through `waits`.
    done.catch(() => {});
    for (const l of lines) {
      if (this.stored.has(l.key)) {
        duplicates++;
        continue;
      }
      // Carried by another write, or earlier in this batch (then `other` is `done`).
      const other = this.inflight.get(l.key);
      if (other) {
        if (other !== done) waits.add(other);
        duplicates++;
        continue;
      }
      this.inflight.set(l.key, done);
      keys.push(l.key);
      for (const p of l.parts) data.push(p);
    }
    if (keys.length > 0) {
      this.queue.push({ data, keys, resolve, reject });
      waits.add(done);
      this.pump();
    }
    await Promise.all(waits);
    return { written: keys.length, duplicates };
  }

  /**
   * Group commit: one write and one sync at a time per file; batches that arrive meanwhile go out
   * together in the next round, sharing its sync.
   */
  private pump(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    this.idle = new Promise((r) => (this.idleResolve = r));
    const group = this.queue;
    this.queue = [];
    const roundDone = this.idleResolve;
    void this.flushGroup(group).finally(() => {
      this.writing = false;
      if (this.queue.length > 0) this.pump();
      // Every round's waiters wake (close() then waits for the next round, if one began).
      roundDone?.();
    });
  }

  /** Writes a group and resolves its batches once the data is on disk, so only that is acknowledged. */
  private async flushGroup(group: Pending[]): Promise<void> {
    let total = 0;
    for (const p of group) for (const d of p.data) total += d.length;
    try {
      // A rotation that failed after closing the old file left none open: try again.
      if (!this.fh) await this.openCurrent();
      if (this.size > 0 && this.size + total > this.opts.maxBytes) await this.rotate();
      await this.writeAll(this.gather(group, total), total);
      const now = this.opts.now();
      for (const p of group) {
        for (const k of p.keys) {
          this.stored.add(k, now);
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
   * The group's lines in one buffer, this stream's own and reused from write to write (one write
   * at a time per stream). A writev of the pieces (views into the request bodies) copied nothing,
   * but Node turns each of its thousands of iovecs into a uv_buf_t one by one: that cost more than
   * the copy, and a fresh buffer per write held megabytes of external memory until a full GC.
   */
  private gather(group: Pending[], total: number): Buffer {
    if (group.length === 1 && group[0]!.data.length === 1) return group[0]!.data[0]!;
    let out = this.scratch;
    if (!out || out.length < total) {
      let size = 256 * 1024;
      while (size < total) size *= 2;
      out = Buffer.allocUnsafeSlow(size);
      // Kept only up to a few batches' worth: a rare huge write gets a buffer of its own.
      this.scratch = size <= MAX_SCRATCH ? out : null;
    }
    let off = 0;
    for (const p of group) {
      for (const d of p.data) {
        out.set(d, off);
        off += d.length;
      }
    }
    return out;
  }

  /**
   * Appends the first `total` bytes of `buf` and syncs them: all of them or none. When the write
   * or the sync fails they are taken back, so the sender's retry (of a batch never acknowledged)
   * stores them once; if even that fails, a retry may store them twice, never lose them.
   */
  private async writeAll(buf: Buffer, total: number): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error(`stream ${this.sink} is not open`);
    try {
      let off = 0;
      while (off < total) {
        const r = await fh.write(buf, off, total - off);
        off += r.bytesWritten;
      }
      await this.opts.sync(fh);
      this.size += total;
    } catch (err) {
      await fh.truncate(this.size).catch(() => {});
      throw err;
    }
  }

  /**
   * <stem>.log.(N-1) -> .N ... <stem>.log -> .1; the oldest beyond the cap is removed. The old file
   * is already synced (every write is); the renames and the new file are made durable together.
   */
  private async rotate(): Promise<void> {
    const old = this.fh;
    this.fh = null;
    if (old) {
      await this.opts.sync(old);
      await old.close();
    }
    await shiftRotated(this.path, this.opts.maxBackups);
    this.size = 0;
    await this.openCurrent();
  }

  /** Frees this sink's dedupe index and keys (after close: the stream is no longer written). */
  releaseKeys(): void {
    this.stored.table.release(this.stored.index);
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
