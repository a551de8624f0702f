/**
 * What a read of events is asked (SourceQuery) and what it gives back besides the events: the
 * lines that were not audit events, each where it is and why, in the receiver's words. The same
 * for a lab's streams and for files (streams/source.ts).
 */
import { type EventPredicate, eventTime, type StoredEvent } from '../audit/filter.js';
import { placeText } from '../ui/format.js';
import type { ReadEvent } from './merge.js';

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

/** A line that is not an audit event: the file as named, its 1-based line number, and why (the receiver's reason). */
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
export function passes(q: Pick<SourceQuery, 'since' | 'matches'>, e: StoredEvent): boolean {
  return (q.since === undefined || (eventTime(e) ?? -Infinity) >= q.since) && q.matches(e);
}
