/**
 * A lab's stored events as `tail` reads them: which sinks there are, then every batch of lines
 * parsed, merged across sinks by time and filtered, the stored ones first and (when following)
 * the new ones as the receiver appends them.
 */
import { stat } from 'node:fs/promises';
import { type EventPredicate, eventTime, parseEventLine, type StoredEvent } from '../audit/filter.js';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { noSuchLab, readState } from '../lab/state.js';
import { placeText } from '../ui/format.js';
import { followStreams, listStreamSinks, StreamReader, type StreamLine } from './follow.js';
import { mergeOrder, type ReadEvent, SinkCopies } from './merge.js';

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** A lab's sinks as `tail` needs them. */
export interface LabSinks {
  /** The lab state's names, for streams whose file name is hashed (StreamReader `known`). */
  known: string[];
  /** What `tail` reads: the sinks asked for, or the lab's (those in its state; without a state, every stream on disk). */
  reading: string[];
  /** Deleted sinks whose streams are still on disk, left out unless asked for by name. */
  hidden: string[];
}

/**
 * The lab's sinks. An unknown lab, or a sink in `asked` that neither the state nor the stream
 * files know, is a UserError naming the choices.
 */
export async function labSinks(paths: LabPaths, asked: readonly string[]): Promise<LabSinks> {
  const state = await readState(paths);
  const inState = state?.sinks.map((s) => s.name) ?? [];
  const onDisk = await listStreamSinks(paths.streamsDir, inState);
  if (state === null && !(await isDirectory(paths.streamsDir))) {
    throw noSuchLab(paths);
  }
  const all = [...new Set([...inState, ...onDisk])].sort();
  const unknown = asked.find((s) => !all.includes(s));
  if (unknown !== undefined) {
    throw new UserError(
      all.length > 0
        ? `there is no sink named ${JSON.stringify(unknown)}; the sinks of lab ${JSON.stringify(paths.name)} are: ${all.join(', ')}`
        : `there is no sink named ${JSON.stringify(unknown)}; lab ${JSON.stringify(paths.name)} has no sinks yet`,
      all.length > 0 ? 'pick them with --sink NAME (repeatable), or leave --sink out for all of them' : 'create one with `audit-lab sink create NAME`',
    );
  }
  if (asked.length > 0) return { known: inState, reading: [...new Set(asked)], hidden: [] };
  // `sink delete` keeps the stream: its events stay readable by name, but it is no sink of the lab.
  const hidden = state === null ? [] : onDisk.filter((s) => !inState.includes(s));
  return { known: inState, reading: all.filter((s) => !hidden.includes(s)), hidden };
}

/** What to read and how, whatever the source (streams/source.ts): lab streams or files. */
export interface SourceQuery {
  /** Of the stored events that pass the query, only the last N; -1 all. New ones are all shown. */
  tail: number;
  /** Events at or after this time (epoch microseconds). */
  since?: number;
  matches: EventPredicate;
  /** Keep reading new events until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  pollMs: number;
  /** Called once, when following, at the first line that is not an audit event. */
  onFirstSkip?(where: string): void;
  /** Called, when following files, for each that is not there yet: it is waited for. */
  onWait?(file: string): void;
  /** Every sink's copy of an event (top --by sink); by default a lab's event is shown once (SinkCopies). */
  eachSinkCopy?: boolean;
}

/** Takes a batch of events, in order; a promise it returns is awaited before more are read (a slow reader of stdout). */
export type Show = (events: ReadEvent[], storedDone: boolean) => void | Promise<void>;

/** A query of a lab's streams. */
export interface EventQuery extends SourceQuery {
  /** Only these sinks; empty: every sink, including ones that appear while following. */
  sinks: readonly string[];
  /** The lab state's sinks (LabSinks.known). */
  known: readonly string[];
  /** Deleted sinks left out (LabSinks.hidden), until the receiver writes to one again (it was made anew). */
  hidden: readonly string[];
}

/** A line that is not an audit event: the file as named, its 1-based line number, and why. */
export interface SkippedLine {
  file: string;
  line: number;
  reason: string;
}

/** How many skipped lines are kept with their place; past these, they are only counted. */
export const SKIPPED_KEPT = 20;

/** Lines that were not audit events: how many, the first SKIPPED_KEPT of them, and the first as text. */
export interface Skipped {
  count: number;
  /** The first ones met, in the order met (at most SKIPPED_KEPT). */
  lines: SkippedLine[];
  /** The first one as `file:line: reason` ('' when none). */
  first: string;
}

export const noSkips = (): Skipped => ({ count: 0, lines: [], first: '' });

/** Counts a skipped line, keeps it if there is room, and says so when it is the first (`onFirst`). */
export function noteSkipped(skipped: Skipped, line: SkippedLine, onFirst?: (where: string) => void): void {
  if (skipped.lines.length < SKIPPED_KEPT) skipped.lines.push(line);
  if (++skipped.count === 1) {
    skipped.first = placeText(line);
    onFirst?.(skipped.first);
  }
}

/** Whether an event passes the query's filters and --since (an event without a time is before any). */
export function passes(q: Pick<EventQuery, 'since' | 'matches'>, e: StoredEvent): boolean {
  return (q.since === undefined || (eventTime(e) ?? -Infinity) >= q.since) && q.matches(e);
}

/**
 * Reads the lab's events, handing `show` each batch that passes the query, in merged order: first
 * the stored ones (`stored` true, called even when there are none), then, when following, the new.
 */
export async function readEvents(streamsDir: string, q: EventQuery, show: Show): Promise<Skipped> {
  const skipped = noSkips();
  // One sink is read alone; several are the lines of every sink, kept by name.
  const only = q.sinks.length > 1 ? new Set(q.sinks) : undefined;
  const hidden = new Set(q.hidden);
  const copies = q.sinks.length === 1 || q.eachSinkCopy === true ? undefined : new SinkCopies();
  let stored = true;
  const take = (lines: StreamLine[]) => {
    const read: ReadEvent[] = [];
    for (const line of lines) {
      if (only !== undefined && !only.has(line.sink)) continue;
      if (hidden.has(line.sink)) {
        // The receiver writes only to the lab's sinks: new lines mean the name is a sink again.
        if (stored) continue;
        hidden.delete(line.sink);
      }
      if (line.text.trim() === '') continue;
      const parsed = parseEventLine(line.text);
      if (parsed.ok) {
        read.push({ ...line, event: parsed.event });
        continue;
      }
      noteSkipped(skipped, { file: line.file, line: line.lineNo, reason: parsed.reason }, q.follow ? q.onFirstSkip : undefined);
    }
    const passed = mergeOrder(read).filter((r) => passes(q, r.event));
    const shown = copies === undefined ? passed : copies.collapse(passed);
    const wasStored = stored;
    stored = false;
    return show(wasStored && q.tail >= 0 ? lastOf(shown, q.tail) : shown, wasStored);
  };
  const reader = new StreamReader(streamsDir, { sink: q.sinks.length === 1 ? q.sinks[0] : undefined, known: q.known, graceTicks: q.follow ? 10 : 0 });
  try {
    await take(await reader.poll());
    if (q.follow) await followStreams(reader, take, { signal: q.signal, intervalMs: q.pollMs });
    return skipped;
  } finally {
    await reader.close();
  }
}

/** The last `n` items (none for 0, unlike slice(-0)). */
function lastOf<T>(items: T[], n: number): T[] {
  return n === 0 ? [] : items.slice(-n);
}
