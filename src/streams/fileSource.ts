/**
 * `--file`: which audit log files are read, and how they are followed. What they hold now is
 * merged in time order across files (fileMerge.ts, which peeks each file's first time to place
 * it); when following, what is appended to the plain files, through their rotation
 * (fileFollow.ts). Gzip files, standard input and pipes are read to their end and not followed.
 * The reading itself is the one every source shares (reading.ts).
 */
import { noSkips, noteSkipped, type Show, type Skipped, type SkippedLine, type SourceQuery } from './events.js';
import { FileFollower } from './fileFollow.js';
import { mergeSources } from './fileMerge.js';
import { statIdentity } from './logChunks.js';
import type { LogFile, LogReader } from './logReader.js';
import type { ReadEvent } from './merge.js';
import { type Follower, readPlan } from './reading.js';

/** The same file named twice (a glob and a name) is read once. */
const once = (files: readonly LogFile[]) =>
  files.filter((f, i) => f.path === '-' || files.findIndex((g) => g.path === f.path) === i);

export async function readFiles(
  given: readonly LogFile[],
  stdin: NodeJS.ReadableStream | undefined,
  q: SourceQuery,
  show: Show,
): Promise<Skipped> {
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
  // A read of stdin waits for its writer, whatever the signal: stopping closes stdin, which ends it.
  const closeStdin = () => (stdin as { destroy?(): void } | undefined)?.destroy?.();
  if (files.some((f) => f.path === '-')) q.signal.addEventListener('abort', closeStdin);
  try {
    await readPlan(
      {
        sources,
        keep: (r) => q.follow && r.plain !== null,
        follow: (kept: LogReader[]) => {
          const followers = [...kept.map((r) => new FileFollower(r.file, r, refused))];
          for (const f of missing) followers.push(new FileFollower(f, null, refused));
          return followers.length > 0 ? new Followers(followers) : null;
        },
      },
      q,
      show,
    );
  } finally {
    q.signal.removeEventListener('abort', closeStdin);
  }
  return skipped;
}

/** Files followed side by side, each by its name. */
class Followers implements Follower {
  readonly several: boolean;

  constructor(private readonly files: readonly FileFollower[]) {
    this.several = files.length > 1;
  }

  async poll(out: ReadEvent[], budget: number): Promise<boolean> {
    let more = false;
    for (const f of this.files) if (await f.poll(out, out.length + budget)) more = true;
    return more;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}
