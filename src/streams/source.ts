/**
 * Where `tail`, `top` and `policy` read events from: a lab's sink streams, or audit log files given
 * with --file (the API server's own log backend output, EventList documents, rotated and gzip
 * files, `-` for stdin). One contract for both, so a command never knows which it reads.
 *
 * STUB (issue 14 seam): lab streams are complete; files are read plainly, line by line, in the
 * order given, without gzip, EventList documents over several lines, time order or following.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DecodeError, decodeBody } from '../audit/eventShape.js';
import type { EventPredicate, StoredEvent } from '../audit/filter.js';
import { eventTime } from '../audit/filter.js';
import { UserError } from '../errors.js';
import { resolve } from 'node:path';
import type { LabPaths } from '../lab/paths.js';
import { labSinks, readEvents, type Skipped } from './events.js';
import type { ReadEvent } from './merge.js';

/** A log file as the user named it: `path` resolved ('-' for stdin), `shown` as given. */
export interface LogFile {
  path: string;
  shown: string;
}

export type EventSource =
  /** A lab's streams: `sinks` the ones asked for (empty: all), `known` the lab state's (LabSinks). */
  | { kind: 'lab'; paths: LabPaths; sinks: readonly string[]; known: readonly string[] }
  /** Audit log files; `stdin` is read for a file named '-'. */
  | { kind: 'files'; files: readonly LogFile[]; stdin?: NodeJS.ReadableStream };

/** What a command reads, from its --file and --sink flags. */
export interface SourceRequest {
  files: readonly string[];
  sinks: readonly string[];
  paths: LabPaths;
  cwd: string;
  stdin?: NodeJS.ReadableStream;
}

/**
 * The source the flags name: the files when --file is given (no lab needed), else the lab's
 * sinks (an unknown lab or sink is a UserError, see labSinks). `reading` names what is read, for
 * notes and the SINK column: the sinks, or the files as given.
 */
export async function sourceFor(r: SourceRequest): Promise<{ source: EventSource; reading: string[] }> {
  if (r.files.length > 0) {
    if (r.sinks.length > 0) throw new UserError('give either --file or --sink, not both', '--file reads audit log files; --sink reads what a lab stored');
    if (r.files.filter((f) => f === '-').length > 1) throw new UserError('--file - (standard input) can be given once');
    const files = r.files.map((f) => ({ path: f === '-' ? '-' : resolve(r.cwd, f), shown: f }));
    return { source: { kind: 'files', files, stdin: r.stdin }, reading: [...r.files] };
  }
  const sinks = await labSinks(r.paths, r.sinks);
  return { source: { kind: 'lab', paths: r.paths, sinks: r.sinks, known: sinks.known }, reading: sinks.reading };
}

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
  /** Called, when following, at the first line that is not an audit event. */
  onFirstSkip?(where: string): void;
}

/**
 * Reads events from `source`, handing `show` batches that pass the query, in time order: first
 * what is stored, in one or more batches, the last of them with `storedDone` true (possibly
 * empty, and always given); then, when following, the new events as they come (`storedDone`
 * false). Batches are bounded, so a caller that does not keep them runs in bounded memory.
 * Returns the lines that were not audit events (counted; where they are, with line numbers).
 */
export async function readSource(source: EventSource, q: SourceQuery, show: (events: ReadEvent[], storedDone: boolean) => void): Promise<Skipped> {
  if (source.kind === 'lab') {
    return readEvents(source.paths.streamsDir, { ...q, sinks: source.sinks, known: source.known }, show);
  }
  if (q.follow) throw new UserError('following --file is not built yet');
  const skipped: Skipped = { count: 0, first: '' };
  const kept: ReadEvent[] = [];
  let batch: ReadEvent[] = [];
  const pass = (e: StoredEvent) => (q.since === undefined || (eventTime(e) ?? -Infinity) >= q.since) && q.matches(e);
  for (const f of source.files) {
    const input = f.path === '-' ? source.stdin! : createReadStream(f.path, { encoding: 'utf8' });
    let lineNo = 0;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      if (text.trim() === '') continue;
      let events;
      try {
        events = decodeBody(text, '');
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        if (++skipped.count === 1) skipped.first = `${f.shown} line ${lineNo}: ${err.message}`;
        continue;
      }
      for (const event of events) {
        const r: ReadEvent = { sink: f.shown, file: f.shown, lineNo, text: events.length === 1 ? text : JSON.stringify(event), event: event as StoredEvent };
        if (!pass(r.event)) continue;
        if (q.tail >= 0) {
          kept.push(r);
          if (kept.length > q.tail) kept.shift();
        } else {
          batch.push(r);
          if (batch.length >= 10_000) {
            show(batch, false);
            batch = [];
          }
        }
      }
    }
  }
  show(q.tail >= 0 ? kept : batch, true);
  return skipped;
}
