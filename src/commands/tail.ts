/**
 * `audit-lab tail`: the stored events of every sink (or those asked for), merged by time, then the
 * new ones as the receiver stores them, until Ctrl-C prints a summary. With --file, audit log files
 * instead (no lab, no receiver), in time order, followed as `tail -F` follows them. The test seam
 * AUDIT_LAB_NO_RECEIVER is context.ts's.
 */
import { buildFilter, parseSince } from '../audit/filter.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { readSource, refusedExitCode, sourceFor } from '../streams/source.js';
import { type TailFormat, TailView } from '../ui/tailView.js';
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

// --- options: what tailCommand.ts parses the flags into ---
export interface TailOptions extends Common {
  /** Only these sinks; empty: every sink, merged. */
  sinks: string[];
  /** Audit log files to read instead of a lab ('-': stdin); empty: the lab's sinks. */
  files: string[];
  follow: boolean;
  /** Of the stored events that pass the filters, only the last N; -1 all (kubectl logs --tail). */
  tail: number;
  since?: string;
  output: TailFormat;
  /** Times in UTC instead of local time (pretty and wide only). */
  utc: boolean;
  verb: string[];
  user: string[];
  namespace: string[];
  resource: string[];
  stage: string[];
  code: string[];
}
// --- end options ---

export interface TailDeps {
  /** Starts the receiver in the background unless it runs (src/daemon/daemon.ts). */
  ensureReceiver: EnsureReceiver;
  /** Aborts on Ctrl-C; by default SIGINT of this process, listened to only while following. */
  interrupt?: AbortSignal;
  /** For --since with a duration. */
  now(): number;
  pollMs: number;
}

export async function tail(o: TailOptions, ctx: Context, overrides: Partial<TailDeps> = {}): Promise<number> {
  const deps: TailDeps = { ensureReceiver: ensureReceiverLazily, now: () => Date.now(), pollMs: 100, ...overrides };
  const { out } = ctx;
  const paths = pathsFor(ctx, o.name);
  // Flags first: a bad one is exit 2 and starts nothing.
  const matches = buildFilter(o);
  const since = o.since !== undefined ? parseSince(o.since, deps.now()) : undefined;
  const { source, reading } = await sourceFor({
    files: o.files,
    sinks: o.sinks,
    paths,
    cwd: ctx.io.cwd,
    stdin: ctx.io.stdin,
  });
  const receiverPid =
    source.kind === 'lab' && o.follow ? await receiverForFollowing(ctx, paths, deps.ensureReceiver) : undefined;
  const view = new TailView(out, {
    output: o.output,
    follow: o.follow,
    utc: o.utc,
    reading,
    files: source.kind === 'files',
    stdoutTty: ctx.io.stdout.isTTY === true,
    stderrTty: ctx.io.stderr.isTTY === true,
  });
  // Ctrl-C ends a tail that follows; a reader that goes away ends any.
  const stop = untilStopped(ctx, { listen: o.follow, interrupt: deps.interrupt });
  const unwatch =
    receiverPid === undefined
      ? () => {}
      : watchReceiver(paths, 'tail', (gone, pid) =>
          gone !== null ? out.warn(gone) : out.info(out.errStyle.dim(`the receiver runs again (pid ${pid})`)),
        );
  try {
    const onFirstSkip = (where: string) =>
      out.warn(`left out a line that is not an audit event (${where}); all are listed at the end`);
    const query = {
      tail: o.tail,
      since,
      matches,
      follow: o.follow,
      signal: stop.signal,
      pollMs: deps.pollMs,
      onFirstSkip,
      onWait: (file: string) => out.warn(`${file} is not there yet; waiting for it`),
    };
    const skipped = await readSource(source, query, (shown, stored) => view.shown(shown, stored));
    view.end(skipped, stop.interrupted());
    if (source.kind === 'lab' && stop.interrupted() && ctx.io.stderr.isTTY === true) {
      const note = await receiverNote(paths, o.name);
      if (note !== undefined) out.note(note);
    }
    // Lines that are not events are bad input, in a file given or a lab's stream, as for `policy test`.
    return refusedExitCode(skipped);
  } finally {
    unwatch();
    stop.release();
  }
}

/**
 * After Ctrl-C: stopping `tail` leaves the receiver it started (or found) running, which a user
 * may not expect; say so, which receiver it is, and how to stop only it (`down --keep-cluster`
 * keeps the cluster, as plain `down` would not). Nothing when no receiver runs.
 */
async function receiverNote(paths: LabPaths, lab: string): Promise<string | undefined> {
  const running = await (await import('../daemon/daemon.js')).runningReceiver(paths).catch(() => null);
  if (running === null) return undefined;
  const stop = `\`audit-lab down${nameFlag(lab)} --keep-cluster\``;
  if (running.background === false) {
    return `the receiver keeps running: \`audit-lab serve\` (pid ${running.pid}) in the foreground where it was started, storing events; Ctrl-C there stops it (or ${stop})`;
  }
  return `the receiver keeps running in the background (pid ${running.pid}), storing events; ${stop} stops it and leaves the cluster`;
}
