/**
 * Where `tail`, `top` and `policy` read events from: a lab's sink streams, or audit log files given
 * with --file (the API server's own log backend output, EventList documents, rotated and gzip
 * files, `-` for stdin; see fileSource.ts). One contract for both, so a command never knows which
 * it reads.
 */
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { labSinks, readEvents, type Show, type Skipped, type SourceQuery } from './events.js';
import { readFiles } from './fileSource.js';
import type { LogFile } from './logReader.js';

export type { LogFile };

export type EventSource =
  /** A lab's streams: `sinks` the ones asked for (empty: all), `known` the lab state's, `hidden` deleted ones (LabSinks). */
  | { kind: 'lab'; paths: LabPaths; sinks: readonly string[]; known: readonly string[]; hidden: readonly string[] }
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
  return { source: { kind: 'lab', paths: r.paths, sinks: r.sinks, known: sinks.known, hidden: sinks.hidden }, reading: sinks.reading };
}

export type { SourceQuery };

/**
 * Reads events from `source`, handing `show` batches that pass the query, in time order: first
 * what is stored, in one or more batches, the last of them with `storedDone` true (possibly
 * empty, and always given); then, when following, the new events as they come (`storedDone`
 * false). Batches are bounded, so a caller that does not keep them runs in bounded memory; a
 * promise `show` returns is awaited before more is read.
 * Returns the lines that were not audit events (counted; where they are, with line numbers).
 */
export async function readSource(source: EventSource, q: SourceQuery, show: Show): Promise<Skipped> {
  if (source.kind === 'lab') {
    return readEvents(source.paths.streamsDir, { ...q, sinks: source.sinks, known: source.known, hidden: source.hidden }, show);
  }
  return readFiles(source.files, source.stdin, q, show);
}

/**
 * The exit code for lines that were not audit events, once everything else is shown: 2 for files
 * the user gave (bad input, as `policy test` says), 0 for a lab's streams, which the receiver wrote.
 */
export function skippedExitCode(source: EventSource, skipped: Skipped): number {
  return source.kind === 'files' && skipped.count > 0 ? 2 : 0;
}
