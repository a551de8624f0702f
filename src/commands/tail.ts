/**
 * `audit-lab tail`: the stored events of every sink (or one), merged by time, then the new ones
 * as the receiver stores them, until Ctrl-C prints a summary.
 *
 * Test seam: AUDIT_LAB_NO_RECEIVER=1 makes `tail` follow the stream files without starting the
 * receiver, so a test can follow files it writes itself. Only `tail` reads it.
 */
import { stat } from 'node:fs/promises';
import {
  buildFilter,
  eventTime,
  parseEventLine,
  parseSince,
  type StoredEvent,
  timestampMicros,
} from '../audit/filter.js';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { readState } from '../lab/state.js';
import { followStreams, listStreamSinks, StreamReader, type StreamLine } from '../streams/follow.js';
import { formatJson, formatSummary, PrettyFormatter, Tally } from '../ui/format.js';
import { type Context, pathsFor } from './context.js';
import type { TailOptions } from './options.js';

export interface ReceiverHandle {
  pid: number;
  url: string;
  started: boolean;
}

export interface TailDeps {
  /** Starts the receiver in the background unless it runs (src/receiver/daemon.ts). */
  ensureReceiver(paths: LabPaths): Promise<ReceiverHandle>;
  /** Aborts on Ctrl-C; by default SIGINT of this process, listened to only while following. */
  interrupt?: AbortSignal;
  /** For --since with a duration. */
  now(): number;
  pollMs: number;
}

export const NO_RECEIVER_ENV = 'AUDIT_LAB_NO_RECEIVER';

async function loadEnsureReceiver(paths: LabPaths): Promise<ReceiverHandle> {
  // Loaded only when following: --no-follow never loads the server, the PKI or the daemon code.
  return (await import('../daemon/daemon.js')).ensureReceiver(paths);
}

const defaultDeps: TailDeps = { ensureReceiver: loadEnsureReceiver, now: () => Date.now(), pollMs: 100 };

export interface ReadEvent extends StreamLine {
  event: StoredEvent;
}

/**
 * Merges the sinks' events by time (request received, then stage time) while keeping each sink's
 * own order, as stored; stable, so equal times keep sink order. One sink's lines come out exactly
 * as its files hold them. An event without times sorts with the one before it in its sink.
 */
export function mergeOrder<T extends { sink: string; event: StoredEvent }>(items: readonly T[]): T[] {
  const bySink = new Map<string, { item: T; key: [number, number] }[]>();
  for (const item of items) {
    let list = bySink.get(item.sink);
    if (!list) bySink.set(item.sink, (list = []));
    const received = timestampMicros(item.event.requestReceivedTimestamp);
    const stageAt = timestampMicros(item.event.stageTimestamp);
    const key: [number, number] =
      received === undefined && stageAt === undefined
        ? (list.at(-1)?.key ?? [-Infinity, -Infinity])
        : [received ?? stageAt!, stageAt ?? received!];
    list.push({ item, key });
  }
  const lists = [...bySink.values()];
  const at = lists.map(() => 0);
  const merged: T[] = [];
  for (;;) {
    let best = -1;
    for (let s = 0; s < lists.length; s++) {
      const head = lists[s]![at[s]!];
      if (head === undefined) continue;
      const b = best >= 0 ? lists[best]![at[best]!]! : undefined;
      if (b === undefined || head.key[0] < b.key[0] || (head.key[0] === b.key[0] && head.key[1] < b.key[1])) best = s;
    }
    if (best < 0) return merged;
    merged.push(lists[best]![at[best]!]!.item);
    at[best]!++;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function tail(o: TailOptions, ctx: Context, overrides: Partial<TailDeps> = {}): Promise<number> {
  const deps: TailDeps = { ...defaultDeps, ...overrides };
  const { out } = ctx;
  const paths = pathsFor(ctx, o.name);

  // Flags first: a bad one is exit 2 and starts nothing.
  const matches = buildFilter(o);
  const since = o.since !== undefined ? parseSince(o.since, deps.now()) : undefined;

  const state = await readState(paths);
  const inState = state?.sinks.map((s) => s.name) ?? [];
  const onDisk = await listStreamSinks(paths.streamsDir, inState);
  if (state === null && !(await isDirectory(paths.streamsDir))) {
    throw new UserError(`there is no lab named ${JSON.stringify(o.name)} in ${paths.home}`, 'create it with `audit-lab up`, or start a receiver with `audit-lab serve`');
  }
  const known = [...new Set([...inState, ...onDisk])].sort();
  if (o.sink !== undefined && !known.includes(o.sink)) {
    throw new UserError(
      known.length > 0
        ? `there is no sink named ${JSON.stringify(o.sink)}; the sinks of lab ${JSON.stringify(o.name)} are: ${known.join(', ')}`
        : `there is no sink named ${JSON.stringify(o.sink)}; lab ${JSON.stringify(o.name)} has no sinks yet`,
      known.length > 0 ? 'pick one with --sink NAME, or leave --sink out for all of them' : 'create one with `audit-lab sink create NAME`',
    );
  }

  if (o.follow && ctx.io.env[NO_RECEIVER_ENV] !== '1') {
    const receiver = await deps.ensureReceiver(paths);
    if (receiver.started) out.info(out.errStyle.dim(`started the receiver (pid ${receiver.pid}) at ${receiver.url}`));
  }

  const tally = new Tally();
  const formatter = new PrettyFormatter(out.style, o.output === 'wide');
  let skipped = 0;
  let firstSkip = '';

  const show = (lines: StreamLine[], finite: boolean) => {
    const read: ReadEvent[] = [];
    for (const line of lines) {
      if (line.text.trim() === '') continue;
      const parsed = parseEventLine(line.text);
      if (parsed.ok) {
        read.push({ ...line, event: parsed.event });
        continue;
      }
      skipped++;
      if (skipped === 1) {
        firstSkip = `${line.file} line ${line.lineNo}: ${parsed.reason}`;
        // One warning, not one per line: in follow mode now, the count comes with the summary.
        if (!finite) out.warn(`skipped a line that is not an audit event (${firstSkip}); later ones are only counted`);
      }
    }
    const shown = mergeOrder(read).filter((r) => (since === undefined || (eventTime(r.event) ?? -Infinity) >= since) && matches(r.event));
    if (o.output === 'pretty' || o.output === 'wide') formatter.measure(shown);
    let text = '';
    for (const r of shown) {
      tally.add(r.event);
      if (o.output === 'jsonl') text += `${r.text}\n`;
      else if (o.output === 'json') text += `${formatJson(r.event)}\n`;
      else text += `${formatter.format(r.event, r.sink)}\n`;
    }
    if (text !== '') out.data(text);
  };

  const stop = new AbortController();
  // `audit-lab tail | head`: the reader went away. Stop quietly instead of dying on an unhandled
  // 'error' event. Left attached: a write may fail after this function has returned.
  const stdout = ctx.io.stdout as { on?: (ev: 'error', fn: (err: NodeJS.ErrnoException) => void) => unknown };
  stdout.on?.('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    stop.abort();
  });

  const reader = new StreamReader(paths.streamsDir, { sink: o.sink, known: inState, graceTicks: o.follow ? 10 : 0 });
  try {
    if (!o.follow) {
      show(await reader.poll(), true);
      if (skipped > 0) {
        out.warn(`skipped ${skipped === 1 ? 'a line that is' : `${skipped} lines that are`} not audit events (${skipped === 1 ? '' : 'first: '}${firstSkip})`);
      }
      return 0;
    }

    let interrupted = false;
    const onInterrupt = () => {
      interrupted = true;
      stop.abort();
    };
    const ownSignal = overrides.interrupt === undefined;
    if (ownSignal) process.once('SIGINT', onInterrupt);
    else if (overrides.interrupt!.aborted) onInterrupt();
    else overrides.interrupt!.addEventListener('abort', onInterrupt, { once: true });
    try {
      show(await reader.poll(), false);
      await followStreams(reader, (lines) => show(lines, false), { signal: stop.signal, intervalMs: deps.pollMs });
    } finally {
      if (ownSignal) process.off('SIGINT', onInterrupt);
      else overrides.interrupt!.removeEventListener('abort', onInterrupt);
    }
    if (interrupted) out.info(formatSummary(tally, out.errStyle, { skipped }));
    return 0;
  } finally {
    await reader.close();
  }
}
