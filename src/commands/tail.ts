/**
 * `audit-lab tail`: the stored events of every sink (or those asked for), merged by time, then the
 * new ones as the receiver stores them, until Ctrl-C prints a summary.
 *
 * Test seam: AUDIT_LAB_NO_RECEIVER=1 makes `tail` follow the stream files without starting the
 * receiver, so a test can follow files it writes itself. Only `tail` reads it.
 */
import { buildFilter, parseSince, type StoredEvent } from '../audit/filter.js';
import { DEFAULT_LAB_NAME, type LabPaths } from '../lab/paths.js';
import { labSinks, readEvents } from '../streams/events.js';
import type { ReadEvent } from '../streams/merge.js';
import { escapeText } from '../ui/escape.js';
import { formatEventList, formatJson, formatSummary, PrettyFormatter, Tally } from '../ui/format.js';
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
  const sinks = await labSinks(paths, o.sinks);
  if (o.follow && ctx.io.env[NO_RECEIVER_ENV] !== '1') {
    const receiver = await deps.ensureReceiver(paths);
    if (receiver.started) out.info(out.errStyle.dim(`started the receiver (pid ${receiver.pid}) at ${receiver.url}`));
  }

  // A person at a terminal gets a header, lines cut to its width and notes on stderr; a pipe gets
  // none of these (and machine output never does).
  const pretty = o.output === 'pretty' || o.output === 'wide';
  const toTerminal = ctx.io.stdout.isTTY === true;
  const personOnStderr = ctx.io.stderr.isTTY === true;
  const width = ctx.io.stdout.columns;
  const tally = new Tally();
  const formatter = new PrettyFormatter(out.style, {
    wide: o.output === 'wide',
    width: toTerminal && width !== undefined && width > 0 ? width : undefined,
    utc: o.utc,
    header: toTerminal,
  });
  let headerDue = pretty && toTerminal;
  // -o json of a finite listing is one document: the events are kept until the end.
  const listed: StoredEvent[] | undefined = o.output === 'json' && !o.follow ? [] : undefined;
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
  const line = (r: ReadEvent) => (o.output === 'jsonl' ? r.text : o.output === 'json' ? formatJson(r.event) : formatter.format(r.event, r.sink));
  try {
    const skipped = await readEvents(
      paths.streamsDir,
      {
        sinks: o.sinks,
        known: sinks.known,
        tail: o.tail,
        since,
        matches,
        follow: o.follow,
        signal: stop.signal,
        pollMs: deps.pollMs,
        onFirstSkip: (where) => out.warn(`skipped a line that is not an audit event (${where}); later ones are only counted`),
      },
      (shown, stored) => {
        for (const r of shown) tally.add(r.event);
        if (listed !== undefined) listed.push(...shown.map((r) => r.event));
        else if (shown.length > 0) {
          if (pretty) formatter.measure(shown);
          if (headerDue) out.line(formatter.header());
          headerDue = false;
          out.data(shown.map((r) => `${line(r)}\n`).join(''));
        }
        if (stored && o.follow && shown.length === 0 && personOnStderr) out.info(out.errStyle.dim(waitingNote(sinks.reading)));
      },
    );
    if (listed !== undefined) out.data(`${formatEventList(listed)}\n`);
    if (!o.follow && tally.total === 0 && personOnStderr) out.info(out.errStyle.dim(`no events in ${sinkList(sinks.reading)}`));
    const n = skipped.count;
    if (!o.follow && n > 0) out.warn(`skipped ${n === 1 ? 'a line that is' : `${n} lines that are`} not audit events (${n === 1 ? '' : 'first: '}${skipped.first})`);
    if (interrupted) {
      out.info(formatSummary(tally, out.errStyle, { skipped: n }));
      if (personOnStderr) {
        const note = await receiverNote(paths, o.name);
        if (note !== undefined) out.info(out.errStyle.dim(note));
      }
    }
    return 0;
  } finally {
    process.off('SIGINT', onInterrupt);
    interrupt?.removeEventListener('abort', onInterrupt);
  }
}

/** What an empty tail is waiting for, said on a terminal so that silence does not look like a hang. */
function waitingNote(sinks: readonly string[]): string {
  if (sinks.length === 0) return 'waiting for events; the lab has no sinks yet (create one with `audit-lab sink create NAME`; Ctrl-C to stop)';
  return `waiting for events in ${sinkList(sinks)} (Ctrl-C to stop)`;
}

const sinkList = (sinks: readonly string[]) =>
  sinks.length === 0 ? 'any sink (the lab has none)' : `${sinks.length === 1 ? 'sink' : 'sinks'} ${sinks.map(escapeText).join(', ')}`;

/**
 * After Ctrl-C: stopping `tail` leaves the receiver it started (or found) running, which a user
 * may not expect; say so and how to stop it. Nothing when no receiver runs.
 */
async function receiverNote(paths: LabPaths, lab: string): Promise<string | undefined> {
  const running = await (await import('../daemon/daemon.js')).runningReceiver(paths).catch(() => null);
  if (running === null) return undefined;
  const nameFlag = lab === DEFAULT_LAB_NAME ? '' : ` --name ${lab}`;
  return `the receiver keeps running in the background (pid ${running.pid}), storing events; stop it with \`kill ${running.pid}\`, or with \`audit-lab down${nameFlag}\`, which also deletes the cluster`;
}
