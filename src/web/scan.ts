/**
 * What every endpoint of `audit-lab ui` reads through: a lab's streams or the files given, read
 * the one way `tail` reads them (streams/source.ts), filtered by audit/filter.ts with `tail`'s
 * flags as query parameters; and one page of a pass, held while the rest is only counted.
 */
import { basename } from 'node:path';
import { buildFilter, type EventPredicate, parseSince, type StoredEvent } from '../audit/filter.js';
import { UserError } from '../errors.js';
import type { LabPaths } from '../lab/paths.js';
import type { ReadEvent } from '../streams/merge.js';
import { type EventSource, readSource, type SourceQuery, sourceFor } from '../streams/source.js';

/** What the server reads: a lab, or the files `--file` gave. */
export interface ApiSource {
  paths: LabPaths;
  /** Files to read instead of the lab (absolute or relative to cwd); empty: the lab. */
  files: readonly string[];
  cwd: string;
  /** Epoch ms, for `since` durations. */
  now(): number;
  /** How often a follow polls for new lines (ms). */
  pollMs?: number;
  /** Aborts every follow (the server closing). */
  signal?: AbortSignal;
}

/** One event as the API lists it: a stable id, its sink (null: a file's), the event as stored. */
export interface ApiItem {
  id: string;
  sink: string | null;
  event: StoredEvent;
}

/** A query's filters and source, parsed from `tail`'s flags as query parameters. */
export interface Scan {
  source: EventSource;
  query: SourceQuery;
}

const FILTERS = ['verb', 'user', 'namespace', 'resource', 'code', 'stage'] as const;
export const MAX_LIMIT = 5000;
const DEFAULT_LIMIT = 200;

/** A parameter that repeats, or comma-separates as `--sink` does. */
const listParam = (p: URLSearchParams, name: string) =>
  p
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');

/** An item's id: its sink (or file), the file it is in and its line there. */
export function itemOf(r: ReadEvent, files: boolean): ApiItem {
  const id = files ? `file:${r.file}:${r.lineNo}` : `${r.sink}:${basename(r.file)}:${r.lineNo}`;
  return { id, sink: files ? null : r.sink, event: r.event };
}

/** The source and query `params` ask for; a bad filter is a UserError (400), as the flag's would be. */
export async function scanFor(
  s: ApiSource,
  params: URLSearchParams,
  o: { follow?: boolean; signal?: AbortSignal; eachSinkCopy?: boolean; extra?: EventPredicate } = {},
): Promise<Scan> {
  const flags = Object.fromEntries(FILTERS.map((f) => [f, params.getAll(f)])) as Record<
    (typeof FILTERS)[number],
    string[]
  >;
  const filter = buildFilter(flags);
  const sinceParam = params.get('since');
  const since = sinceParam !== null && sinceParam !== '' ? parseSince(sinceParam, s.now()) : undefined;
  const { source } = await sourceFor({ files: s.files, sinks: listParam(params, 'sink'), paths: s.paths, cwd: s.cwd });
  const extra = o.extra;
  const query: SourceQuery = {
    tail: o.follow === true ? 0 : -1,
    since,
    matches: extra === undefined ? filter : (e) => extra(e) && filter(e),
    follow: o.follow === true,
    signal: o.signal ?? new AbortController().signal,
    pollMs: s.pollMs ?? 100,
    eachSinkCopy: o.eachSinkCopy,
  };
  return { source, query };
}

/** `limit` and `before` of a page. */
export function pageParams(params: URLSearchParams): { limit: number; before: number | undefined } {
  const limitText = params.get('limit');
  const limit = limitText === null ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new UserError(`limit ${JSON.stringify(limitText)} is not a number from 1 to ${MAX_LIMIT}`);
  const beforeText = params.get('before');
  if (beforeText === null || beforeText === '') return { limit, before: undefined };
  const before = Number(beforeText);
  if (!Number.isInteger(before) || before < 0)
    throw new UserError(`before ${JSON.stringify(beforeText)} is not a cursor this server gave`);
  return { limit, before };
}

/** One page of a pass: the matching events at positions [from, to) in time order, and how many matched. */
export interface Paged<T> {
  items: T[];
  next: string | null;
  total: number;
}

/**
 * Reads `scan` once, keeping only the page: the `limit` events before position `before` (or the
 * newest), each made into a T by `make` (called for every matching event, in order, with its
 * position: a caller may count them too). Newest first.
 */
export async function readPage<T>(
  scan: Scan,
  page: { limit: number; before: number | undefined },
  make: (r: ReadEvent, position: number) => T,
): Promise<Paged<T> & { refused: number }> {
  const kept: { at: number; item: T }[] = [];
  let total = 0;
  const skipped = await readSource(scan.source, scan.query, (events) => {
    for (const r of events) {
      const at = total++;
      const item = make(r, at);
      if (page.before !== undefined) {
        if (at >= page.before - page.limit && at < page.before) kept.push({ at, item });
      } else {
        kept.push({ at, item });
        // Trimmed in halves: a ring would do, at the cost of clarity.
        if (kept.length >= page.limit * 2) kept.splice(0, kept.length - page.limit);
      }
    }
  });
  const chosen = page.before === undefined ? kept.slice(-page.limit) : kept;
  const oldest = chosen[0]?.at;
  return {
    items: chosen.reverse().map((k) => k.item),
    next: oldest !== undefined && oldest > 0 ? String(oldest) : null,
    total,
    refused: skipped.count,
  };
}
