/**
 * One stream per sink: <streamsDir>/<stem>.log in the API server's audit-log format (one v1 Event
 * as JSON per line), rotated by size to <stem>.log.1 ... <stem>.log.N (the stem is the sink's name
 * or, for a long one, a shortened form: see streams/names.ts). `tail` reads these files
 * while they are written, so the contract is strict: a line is whole or absent, rotation is a
 * rename of <stem>.log to <stem>.log.1, and nothing else ever renames or rewrites a stream (a
 * write that fails, or whose sync fails, is cut back off).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { ensurePrivateDir } from '../../lab/fsutil.js';
import { parseStreamFileName, streamFile } from '../../streams/names.js';
import type { Line } from './lines.js';
import { DEFAULT_STREAM_OPTIONS, type StreamOptions } from './options.js';
import { SharedKeys, SinkKeys } from './sharedKeys.js';
import { SinkStream, type WriteResult } from './sinkStream.js';

/** Every sink's stream, opened on first use; their dedupe keys in tables of 16 sinks each. */
export class StreamStore {
  private readonly streams = new Map<string, Promise<SinkStream>>();
  /** Streams of dropped sinks still closing: the sink's next stream opens once that one is closed. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly tables: SharedKeys[] = [];
  readonly opts: StreamOptions;

  constructor(
    readonly dir: string,
    opts: Partial<StreamOptions> = {},
  ) {
    this.opts = { ...DEFAULT_STREAM_OPTIONS, ...opts };
  }

  /** Makes the directory; refuses to start over stream files that are links, naming them. */
  async init(): Promise<void> {
    await ensurePrivateDir(this.dir);
    const links: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (parseStreamFileName(name) === null) continue;
      const path = join(this.dir, name);
      if ((await lstat(path).catch(() => null))?.isSymbolicLink()) links.push(path);
    }
    if (links.length > 0) {
      throw new UserError(
        `${links.length === 1 ? 'a stream file is a symbolic link' : 'stream files are symbolic links'}: ${links.join(', ')}; the receiver does not write through links`,
        `remove ${links.length === 1 ? 'it' : 'them'} (events then go to a new file), then start the receiver again`,
      );
    }
  }

  stream(sink: string): Promise<SinkStream> {
    let s = this.streams.get(sink);
    if (!s) {
      const keys = this.keys();
      const created = new SinkStream(sink, streamFile(this.dir, sink), this.opts, keys);
      // The same file's previous stream closes first (its last writes must be in the seed); how it closed does not matter here.
      const before = this.closing.get(sink)?.catch(() => {}) ?? Promise.resolve();
      s = before.then(() => created.open()).then(() => created);
      // A failed open is retried by the next batch rather than remembered; its keys go (seeding may have begun).
      s.catch(() => {
        if (this.streams.get(sink) === s) this.streams.delete(sink);
        keys.table.release(keys.index);
      });
      this.streams.set(sink, s);
    }
    return s;
  }

  /**
   * A sink index in the first table with one free. Beyond 16 sinks a second table begins: sinks
   * share keys only within a table, so that costs memory, never correctness.
   */
  private keys(): SinkKeys {
    for (const t of this.tables) {
      const i = t.acquire();
      if (i !== null) return new SinkKeys(t, i);
    }
    const t = new SharedKeys(this.opts.dedupeKeys, this.opts.dedupeWindowMs);
    this.tables.push(t);
    return new SinkKeys(t, t.acquire()!);
  }

  /** The dedupe tables (for tests and measurements). */
  keyTables(): readonly SharedKeys[] {
    return this.tables;
  }

  /**
   * Closes the streams of sinks not in `sinks` (deleted ones) and frees their keys, so a sink made
   * later reuses the index with nothing in it; if one of them comes back, its stream is opened
   * again and seeded from its files. A batch still being written to it fails (the sender retries).
   */
  async retain(sinks: readonly string[]): Promise<void> {
    const keep = new Set(sinks);
    const gone = [...this.streams.keys()].filter((name) => !keep.has(name));
    await Promise.all(gone.map((name) => this.drop(name)));
  }

  private drop(sink: string): Promise<void> {
    const p = this.streams.get(sink)!;
    this.streams.delete(sink);
    const closed = (async () => {
      const s = await p.catch(() => null);
      if (!s) return;
      try {
        await s.close();
      } finally {
        s.releaseKeys();
      }
    })();
    this.closing.set(sink, closed);
    const done = () => {
      if (this.closing.get(sink) === closed) this.closing.delete(sink);
    };
    closed.then(done, done);
    return closed;
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
