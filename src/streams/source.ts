/**
 * Where `tail`, `top` and `policy` read events from: a lab's sink streams, or audit log files given
 * with --file (the API server's own log backend output, EventList documents, rotated and gzip
 * files, `-` for stdin; see fileSource.ts). Both are read one way (reading.ts): the same decoder,
 * the same merge, the same lines refused for the same reasons, so a command never knows which it
 * reads. What differs is only which files: a lab's are each sink's stream files (labStreams.ts).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import { noSuchLab, readState } from '../lab/state.js';
import type { Show, Skipped, SourceQuery } from './events.js';
import { readFiles } from './fileSource.js';
import { readLab } from './labStreams.js';
import type { LogFile } from './logReader.js';
import { listStreamFiles, SinkNames } from './names.js';

export type { LogFile, SourceQuery };

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
    if (r.sinks.length > 0)
      throw new UserError(
        'give either --file or --sink, not both',
        '--file reads audit log files; --sink reads what a lab stored',
      );
    if (r.files.filter((f) => f === '-').length > 1) throw new UserError('--file - (standard input) can be given once');
    const files = r.files.map((f) => ({ path: f === '-' ? '-' : resolve(r.cwd, f), shown: f }));
    return { source: { kind: 'files', files, stdin: r.stdin }, reading: [...r.files] };
  }
  const sinks = await labSinks(r.paths, r.sinks);
  return {
    source: { kind: 'lab', paths: r.paths, sinks: r.sinks, known: sinks.known, hidden: sinks.hidden },
    reading: sinks.reading,
  };
}

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
    const { paths, sinks, known, hidden } = source;
    return readLab({ streamsDir: paths.streamsDir, sinks, known, hidden }, q, show);
  }
  return readFiles(source.files, source.stdin, q, show);
}

/**
 * The exit code for lines that were not audit events, once everything else is shown: 2 (bad
 * input) when there was one, whatever was read (a lab's streams are files a user may edit, copy
 * or append to), as the receiver would have refused it.
 */
export function refusedExitCode(skipped: Pick<Skipped, 'count'>): number {
  return skipped.count > 0 ? 2 : 0;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Sinks with a stream on disk, rotated-only ones included (a deleted sink's events stay readable);
 * `known` (the lab's sinks) helps name streams whose stem is hashed.
 */
export async function listStreamSinks(dir: string, known: readonly string[] = []): Promise<string[]> {
  const names = new SinkNames(dir, known);
  const sinks = new Set<string>();
  for (const stem of (await listStreamFiles(dir)).keys()) sinks.add(await names.sinkOf(stem));
  return [...sinks].sort();
}

/** A lab's sinks as `tail` needs them. */
export interface LabSinks {
  /** The lab state's names, for streams whose file name is hashed (SinkNames `known`). */
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
      all.length > 0
        ? 'pick them with --sink NAME (repeatable), or leave --sink out for all of them'
        : 'create one with `audit-lab sink create NAME`',
    );
  }
  if (asked.length > 0) return { known: inState, reading: [...new Set(asked)], hidden: [] };
  // `sink delete` keeps the stream: its events stay readable by name, but it is no sink of the lab.
  const hidden = state === null ? [] : onDisk.filter((s) => !inState.includes(s));
  return { known: inState, reading: all.filter((s) => !hidden.includes(s)), hidden };
}
