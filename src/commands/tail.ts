/**
 * `audit-lab tail`: the stored events of every sink (or one), merged by time, then the new ones
 * as the receiver stores them, until Ctrl-C prints a summary.
 *
 * Test seam: AUDIT_LAB_NO_RECEIVER=1 makes `tail` follow the stream files without starting the
 * receiver, so a test can follow files it writes itself. Only `tail` reads it.
 */
import { buildFilter, parseSince } from '../audit/filter.js';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { labSinks, readEvents } from '../streams/events.js';
import { formatJson, formatSummary, PrettyFormatter, Tally } from '../ui/format.js';
import { type Context, pathsFor } from './context.js';
import type { TailOptions } from './options.js';

export interface TailDeps {
  /** Starts the receiver in the background unless it runs (src/daemon/daemon.ts). */
  ensureReceiver(paths: LabPaths): Promise<{ pid: number; url: string; started: boolean }>;
  /** Aborts on Ctrl-C; by default SIGINT of this process, listened to only while following. */
  interrupt?: AbortSignal;
  /** For --since with a duration. */
  now(): number;
  pollMs: number;
}

export const NO_RECEIVER_ENV = 'AUDIT_LAB_NO_RECEIVER';

// Loaded only when following: --no-follow never loads the daemon code.
const ensureReceiver: TailDeps['ensureReceiver'] = async (paths) => (await import('../daemon/daemon.js')).ensureReceiver(paths);

export async function tail(o: TailOptions, ctx: Context, overrides: Partial<TailDeps> = {}): Promise<number> {
  const deps: TailDeps = { ensureReceiver, now: () => Date.now(), pollMs: 100, ...overrides };
  const { out } = ctx;
  const paths = pathsFor(ctx, o.name);
  // Flags first: a bad one is exit 2 and starts nothing.
  const matches = buildFilter(o);
  const since = o.since !== undefined ? parseSince(o.since, deps.now()) : undefined;
  // The CLI collects every --sink; reading several at once is the tail change of issue 13, item 5.
  if (o.sink.length > 1) throw new UserError('tail reads one --sink at a time for now', 'give one --sink, or none for every sink');
  const sink = o.sink[0];
  const known = await labSinks(paths, sink);
  if (o.follow && ctx.io.env[NO_RECEIVER_ENV] !== '1') {
    const receiver = await deps.ensureReceiver(paths);
    if (receiver.started) out.info(out.errStyle.dim(`started the receiver (pid ${receiver.pid}) at ${receiver.url}`));
  }

  const tally = new Tally();
  const formatter = new PrettyFormatter(out.style, o.output === 'wide');
  const stop = new AbortController();
  // `audit-lab tail | head`: the reader went away. Stop quietly instead of dying on an unhandled
  // 'error' event. Left attached: a write may fail after this function has returned.
  const stdout = ctx.io.stdout as { on?: (ev: 'error', fn: (err: NodeJS.ErrnoException) => void) => unknown };
  stdout.on?.('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    stop.abort();
  });
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    stop.abort();
  };
  const interrupt = deps.interrupt;
  if (o.follow) {
    if (interrupt === undefined) process.once('SIGINT', onInterrupt);
    else if (interrupt.aborted) onInterrupt();
    else interrupt.addEventListener('abort', onInterrupt, { once: true });
  }
  try {
    const skipped = await readEvents(
      paths.streamsDir,
      { sink, known, since, matches, follow: o.follow, signal: stop.signal, pollMs: deps.pollMs, onFirstSkip: (where) => out.warn(`skipped a line that is not an audit event (${where}); later ones are only counted`) },
      (shown) => {
        if (o.output === 'pretty' || o.output === 'wide') formatter.measure(shown);
        for (const r of shown) tally.add(r.event);
        if (shown.length > 0) out.data(shown.map((r) => `${o.output === 'jsonl' ? r.text : o.output === 'json' ? formatJson(r.event) : formatter.format(r.event, r.sink)}\n`).join(''));
      },
    );
    const n = skipped.count;
    if (!o.follow && n > 0) out.warn(`skipped ${n === 1 ? 'a line that is' : `${n} lines that are`} not audit events (${n === 1 ? '' : 'first: '}${skipped.first})`);
    if (interrupted) out.info(formatSummary(tally, out.errStyle, { skipped: n }));
    return 0;
  } finally {
    process.off('SIGINT', onInterrupt);
    interrupt?.removeEventListener('abort', onInterrupt);
  }
}
