/**
 * A lab's streams read the one way files are (reading.ts): each sink's files (its rotated ones,
 * oldest first, then <stem>.log, as streams/names.ts names them) read one after another as one
 * reader (SinkChain), the sinks merged by time and a request several sinks hold shown once. When
 * following, each sink's <stem>.log is followed through rotation, with its rotated files at hand
 * (FileFollower), and sinks that appear are read from their first line.
 *
 * Stream files are opened only as regular files, never through a link (LogFile `own`): anything
 * else there is an error naming it, not a reader waiting on a FIFO or reading another file. The
 * last line of <stem>.log is read only once its newline is there: the receiver may be writing it.
 */
import { join } from 'node:path';
import { noSkips, noteSkipped, type Show, type Skipped, type SkippedLine, type SourceQuery } from './events.js';
import { FileFollower } from './fileFollow.js';
import type { EventReader, MergeSource } from './fileMerge.js';
import { openPlain } from './logFiles.js';
import type { LogFile, LogReader } from './logReader.js';
import { EARLIEST, type ReadEvent, SinkCopies } from './merge.js';
import { listStreamFiles, SinkNames, sinkFileStem, type StreamFiles } from './names.js';
import { type Follower, readPlan } from './reading.js';

/** What of a lab is read (source.ts EventSource). */
export interface LabStreams {
  streamsDir: string;
  /** The sinks asked for; empty: every sink, including ones that appear while following. */
  sinks: readonly string[];
  /** The lab state's sinks, to name streams whose stem is hashed when their name file is missing. */
  known: readonly string[];
  /**
   * Deleted sinks left out (LabSinks.hidden): when following, only what the receiver writes to
   * them again (a sink made anew) is read.
   */
  hidden: readonly string[];
}

/** Polls a rotated file may end without a newline before that last line is taken as whole. */
const GRACE_POLLS = 10;

const fileAt = (dir: string, name: string, sink: string): LogFile => {
  const path = join(dir, name);
  return { path, shown: path, own: true, sink };
};
const liveName = (stem: string) => `${stem}.log`;

/**
 * One sink's files read one after another: each rotated file to its end (it is whole: its last
 * line counts even without a newline), then <stem>.log, the live one, up to its last newline.
 */
class SinkChain implements EventReader {
  private at = 0;

  constructor(
    readonly stem: string,
    /** <stem>.log, where the sink's stream is followed. */
    readonly file: LogFile,
    private readonly readers: readonly LogReader[],
    /** The last reader is <stem>.log's. */
    private readonly liveLast: boolean,
    /** Identities of the files read. */
    readonly ids: ReadonlySet<string>,
  ) {}

  /** <stem>.log's reader once the files before it are read; null when it was not there. */
  get live(): LogReader | null {
    return this.liveLast && this.at === this.readers.length - 1 ? this.readers[this.at]! : null;
  }

  async next(): Promise<ReadEvent[] | null> {
    while (this.at < this.readers.length) {
      const r = this.readers[this.at]!;
      const events = await r.next();
      if (events !== null) return events;
      if (this.live === r) return null;
      const last = r.finish();
      await r.close();
      this.at++;
      if (last.length > 0) return last;
    }
    return null;
  }

  finish(): ReadEvent[] {
    return this.live?.finish(false) ?? [];
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.slice(this.at).map((r) => r.close()));
  }
}

/** Opens a sink's files, oldest first (a file met twice under two names, as rotation moves them, is read once). */
async function openChain(
  dir: string,
  stem: string,
  sink: string,
  files: StreamFiles | undefined,
  refused: (line: SkippedLine) => void,
): Promise<SinkChain> {
  const readers: LogReader[] = [];
  const ids = new Set<string>();
  let liveLast = false;
  try {
    for (const name of [...(files?.rotated ?? []), ...(files?.live === true ? [liveName(stem)] : [])]) {
      const r = await openPlain(fileAt(dir, name, sink), refused);
      if (r === null) continue;
      if (ids.has(r.plain!.id)) {
        await r.close();
        continue;
      }
      ids.add(r.plain!.id);
      readers.push(r);
      liveLast = name === liveName(stem);
    }
  } catch (err) {
    await Promise.all(readers.map((r) => r.close()));
    throw err;
  }
  return new SinkChain(stem, fileAt(dir, liveName(stem), sink), readers, liveLast, ids);
}

/**
 * Reads a lab's streams, handing `show` batches that pass the query, in time order: first what is
 * stored, then, when following, the new events (reading.ts readPlan). Returns the lines that were
 * not audit events.
 */
export async function readLab(lab: LabStreams, q: SourceQuery, show: Show): Promise<Skipped> {
  const skipped = noSkips();
  const refused = (line: SkippedLine) => noteSkipped(skipped, line, q.follow ? q.onFirstSkip : undefined);
  const dir = lab.streamsDir;
  const names = new SinkNames(dir, [...lab.known, ...lab.sinks]);
  const asked = lab.sinks.length > 0 ? new Map(lab.sinks.map((s) => [sinkFileStem(s), s])) : undefined;
  const sinkOf = async (stem: string) => asked?.get(stem) ?? (await names.sinkOf(stem));
  const hidden = new Set(lab.hidden.map(sinkFileStem));
  const listing = await listStreamFiles(dir);
  const stems = [...(asked?.keys() ?? listing.keys())].filter((s) => !hidden.has(s)).sort();
  const chains: SinkChain[] = [];
  const follower = q.follow ? new LabFollower(dir, sinkOf, asked, refused) : undefined;
  try {
    for (const stem of stems) chains.push(await openChain(dir, stem, await sinkOf(stem), listing.get(stem), refused));
    for (const stem of hidden) {
      // A deleted sink's files are not read, but are the lab's own all the same: a link or a FIFO among them is refused.
      await (await openChain(dir, stem, stem, listing.get(stem), refused)).close();
      // Followed from where they end now, before what is stored is shown: what is written after that is new.
      if (follower !== undefined && listing.has(stem)) await follower.fromEnd(stem, listing.get(stem)!.rotated);
    }
    // Each sink's files are in its own order: every sink joins the merge at once (EARLIEST), sinks in name order.
    const sources = chains.map(
      (c, order): MergeSource<SinkChain> => ({ file: c.file, first: EARLIEST, order, open: async () => c }),
    );
    const follow = (kept: SinkChain[]): Follower | null => {
      for (const c of kept) follower?.adopt(c.stem, new FileFollower(c.file, c.live, refused, GRACE_POLLS, c.ids));
      return follower ?? null;
    };
    // One sink asked for is read alone: its own copy of each event.
    const copies = lab.sinks.length === 1 || q.eachSinkCopy === true ? undefined : new SinkCopies();
    await readPlan({ sources, keep: () => q.follow, follow, copies }, q, show);
    return skipped;
  } finally {
    // Those the reading finished or handed on are closed already (closing again is harmless);
    // not those an error or Ctrl-C left.
    await Promise.all(chains.map((c) => c.close()));
    await follower?.close();
  }
}

/** Every sink's stream followed (or the sinks asked for), sinks that appear included. */
class LabFollower implements Follower {
  readonly several: boolean;

  /** By stem. */
  private readonly followers = new Map<string, FileFollower>();

  constructor(
    readonly watchDir: string,
    private readonly sinkOf: (stem: string) => Promise<string>,
    /** The sinks asked for, by stem; undefined: every sink. */
    private readonly asked: ReadonlyMap<string, string> | undefined,
    private readonly refused: (line: SkippedLine) => void,
  ) {
    this.several = asked?.size !== 1;
  }

  /** A sink's stream read up to its end already: followed from there. */
  adopt(stem: string, f: FileFollower): void {
    this.followers.set(stem, f);
  }

  private async follower(stem: string): Promise<FileFollower> {
    let f = this.followers.get(stem);
    if (f === undefined) {
      const file = fileAt(this.watchDir, liveName(stem), await this.sinkOf(stem));
      f = new FileFollower(file, null, this.refused, GRACE_POLLS);
      this.followers.set(stem, f);
    }
    return f;
  }

  /** A deleted sink: only what is written to it from now on. */
  async fromEnd(stem: string, rotated: readonly string[]): Promise<void> {
    const f = await this.follower(stem);
    await f.skipToEnd(rotated.map((name) => fileAt(this.watchDir, name, f.file.sink!)));
  }

  async poll(out: ReadEvent[], budget: number): Promise<boolean> {
    const listing = await listStreamFiles(this.watchDir);
    for (const stem of listing.keys()) if (this.asked === undefined || this.asked.has(stem)) await this.follower(stem);
    let more = false;
    for (const stem of [...this.followers.keys()].sort()) {
      const f = this.followers.get(stem)!;
      const rotated = (listing.get(stem)?.rotated ?? []).map((name) => fileAt(this.watchDir, name, f.file.sink!));
      if (await f.poll(out, out.length + budget, rotated)) more = true;
    }
    return more;
  }

  async close(): Promise<void> {
    await Promise.all([...this.followers.values()].map((f) => f.close()));
  }
}
