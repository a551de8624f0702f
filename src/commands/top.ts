/**
 * `audit-lab top`: events grouped by user, verb, resource (--by), heaviest first. At a terminal a
 * live full-screen view that follows new events (starting the receiver, as `tail` does); with
 * --no-follow or off a terminal, one table (or -o json / jsonl) of what is stored, and exit.
 */
import type { ReadStream } from 'node:tty';
import { buildFilter, type FilterFlags, parseSince } from '../audit/filter.js';
import { readSource, refusedExitCode, type SourceQuery, sourceFor } from '../streams/source.js';
import { GroupTable } from '../top/groups.js';
import { runLive } from '../top/live.js';
import { printOnce, type TopFormat } from '../top/once.js';
import { parseWindow, windowOf } from '../top/window.js';
import { printRefused } from '../ui/format.js';
import { groupRowsOn, sourceLabel } from '../ui/topView.js';
import {
  type Common,
  type Context,
  type EnsureReceiver,
  ensureReceiverLazily,
  pathsFor,
  receiverForFollowing,
  untilStopped,
  watchReceiver,
} from './context.js';
import type { GroupKey } from '../top/keys.js';

// --- options: what topCommand.ts parses the flags into ---
export interface TopOptions extends Common, FilterFlags {
  /** Only these sinks; empty: every sink. */
  sinks: string[];
  /** Audit log files to read instead of a lab ('-': stdin). */
  files: string[];
  by: GroupKey[];
  /** Rates over this window (default 1m live; what is stored, whole, with --no-follow). */
  window?: string;
  follow: boolean;
  since?: string;
  output: TopFormat;
  /** At most this many groups (default: all off a terminal, the screen's height on one). */
  limit?: number;
}
// --- end options ---

export interface TopDeps {
  ensureReceiver: EnsureReceiver;
  now(): number;
  pollMs: number;
}

/** The live screen's foot while the receiver is gone; the whole message is printed on quitting. */
const RECEIVER_STOPPED = "the lab's receiver stopped: no new events are stored (quit, and run top again to start it)";

export async function top(o: TopOptions, ctx: Context, overrides: Partial<TopDeps> = {}): Promise<number> {
  const deps: TopDeps = { ensureReceiver: ensureReceiverLazily, now: () => Date.now(), pollMs: 100, ...overrides };
  const { out, io } = ctx;
  // Flags first: a bad one is exit 2 and reads nothing.
  const matches = buildFilter(o);
  const since = o.since !== undefined ? parseSince(o.since, deps.now()) : undefined;
  const window = o.window !== undefined ? parseWindow(o.window) : undefined;
  const paths = pathsFor(ctx, o.name);
  const { source, reading } = await sourceFor({ files: o.files, sinks: o.sinks, paths, cwd: io.cwd, stdin: io.stdin });
  const stdin = io.stdin as Partial<ReadStream> | undefined;
  const live = o.follow && o.output === 'table' && io.stdout.isTTY === true && stdin?.isTTY === true;
  const stop = untilStopped(ctx, { listen: live });
  let unwatch = () => {};
  // Grouped by sink, each sink's copy of an event counts for that sink; otherwise an event counts once.
  const query = (follow: boolean, signal: AbortSignal): SourceQuery => ({
    tail: -1,
    since,
    matches,
    follow,
    signal,
    pollMs: deps.pollMs,
    eachSinkCopy: o.by.includes('sink'),
  });
  // Live rates are over a window always (a minute unless asked); a one-off table's over all that is stored unless asked.
  const liveWindow = window ?? windowOf(60);
  const table = new GroupTable({
    keys: o.by,
    window: live ? liveWindow : window,
    sparkline: o.output === 'table' && io.stdout.isTTY === true,
  });
  const shown: Record<string, string[]> = source.kind === 'files' ? { files: reading } : { sinks: reading };
  try {
    if (!live) {
      const width = out.width;
      const limit =
        o.limit ?? (width !== undefined && io.stdout.rows ? Math.max(1, groupRowsOn(io.stdout.rows)) : undefined);
      const skipped = await printOnce(
        { table, keys: o.by, window, output: o.output, limit, width, source: shown },
        out,
        (show) => readSource(source, query(false, stop.signal), (events) => show(events)),
      );
      printRefused(out, skipped);
      return refusedExitCode(skipped);
    }
    const receiverPid = source.kind === 'lab' ? await receiverForFollowing(ctx, paths, deps.ensureReceiver) : undefined;
    let gone: string | null = null;
    unwatch = receiverPid === undefined ? unwatch : watchReceiver(paths, 'top', (g) => (gone = g));
    const { code, skipped } = await runLive(
      {
        table,
        keys: o.by,
        window: liveWindow,
        source: sourceLabel(shown),
        style: out.style,
        limit: o.limit,
        notice: () => (gone === null ? undefined : RECEIVER_STOPPED),
      },
      { out: io.stdout, input: stdin as ReadStream, signal: stop.signal },
      (signal, show, onFirstSkip) => readSource(source, { ...query(true, signal), onFirstSkip }, show),
    );
    if (gone !== null) out.warn(gone);
    printRefused(out, skipped);
    return code === 0 ? refusedExitCode(skipped) : code;
  } finally {
    unwatch();
    stop.release();
  }
}
