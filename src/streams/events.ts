/**
 * A lab's stored events as `tail` reads them: which sinks there are, then every batch of lines
 * parsed, merged across sinks by time and filtered, the stored ones first and (when following)
 * the new ones as the receiver appends them.
 */
import { stat } from 'node:fs/promises';
import { type EventPredicate, eventTime, parseEventLine } from '../audit/filter.js';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { readState } from '../lab/state.js';
import { followStreams, listStreamSinks, StreamReader, type StreamLine } from './follow.js';
import { mergeOrder, type ReadEvent } from './merge.js';

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The lab's sinks (its state's names, for streams whose file name is hashed). An unknown lab,
 * or a `sink` that neither the state nor the stream files know, is a UserError naming the choices.
 */
export async function labSinks(paths: LabPaths, sink: string | undefined): Promise<string[]> {
  const state = await readState(paths);
  const inState = state?.sinks.map((s) => s.name) ?? [];
  const onDisk = await listStreamSinks(paths.streamsDir, inState);
  if (state === null && !(await isDirectory(paths.streamsDir))) {
    throw new UserError(`there is no lab named ${JSON.stringify(paths.name)} in ${paths.home}`, 'create it with `audit-lab up`, or start a receiver with `audit-lab serve`');
  }
  const known = [...new Set([...inState, ...onDisk])].sort();
  if (sink !== undefined && !known.includes(sink)) {
    throw new UserError(
      known.length > 0
        ? `there is no sink named ${JSON.stringify(sink)}; the sinks of lab ${JSON.stringify(paths.name)} are: ${known.join(', ')}`
        : `there is no sink named ${JSON.stringify(sink)}; lab ${JSON.stringify(paths.name)} has no sinks yet`,
      known.length > 0 ? 'pick one with --sink NAME, or leave --sink out for all of them' : 'create one with `audit-lab sink create NAME`',
    );
  }
  return inState;
}

export interface EventQuery {
  sink?: string;
  /** The lab's sinks (labSinks). */
  known: readonly string[];
  /** Events received at or after this time (epoch microseconds). */
  since?: number;
  matches: EventPredicate;
  /** Keep reading new events until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  pollMs: number;
  /** Called once, when following, at the first line that is not an audit event. */
  onFirstSkip?(where: string): void;
}

/** Lines that were not audit events: how many, and where and why the first. */
export interface Skipped {
  count: number;
  first: string;
}

/** Reads the lab's events, handing `show` each batch that passes the query, in merged order. */
export async function readEvents(streamsDir: string, q: EventQuery, show: (events: ReadEvent[]) => void): Promise<Skipped> {
  const skipped: Skipped = { count: 0, first: '' };
  const take = (lines: StreamLine[]) => {
    const read: ReadEvent[] = [];
    for (const line of lines) {
      if (line.text.trim() === '') continue;
      const parsed = parseEventLine(line.text);
      if (parsed.ok) {
        read.push({ ...line, event: parsed.event });
        continue;
      }
      if (++skipped.count === 1) {
        skipped.first = `${line.file} line ${line.lineNo}: ${parsed.reason}`;
        if (q.follow) q.onFirstSkip?.(skipped.first);
      }
    }
    show(mergeOrder(read).filter((r) => (q.since === undefined || (eventTime(r.event) ?? -Infinity) >= q.since) && q.matches(r.event)));
  };
  const reader = new StreamReader(streamsDir, { sink: q.sink, known: q.known, graceTicks: q.follow ? 10 : 0 });
  try {
    take(await reader.poll());
    if (q.follow) await followStreams(reader, take, { signal: q.signal, intervalMs: q.pollMs });
    return skipped;
  } finally {
    await reader.close();
  }
}
