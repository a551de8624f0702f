/**
 * The one place that names a sink's files: its stream (<stem>.log, rotated to <stem>.log.N) and its
 * policy copy (<stem>.yaml), and the way back from a file name to the sink.
 *
 * A sink name is a DNS-1123 subdomain of up to 253 characters, and a file name may have 255 bytes:
 * `<sink>.log.3` does not fit for long names. A name that fits with every suffix is its own stem
 * (readable, and what existing labs have on disk); a longer one becomes a readable prefix, '_' and
 * a hash of the whole name. '_' is never in a sink name, so such a stem can be no sink's own, and
 * the full name is kept next to the stream in <stem>.sink, since the stem alone cannot be reversed.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lab/fsutil.js';
import { readFileNoFollow } from '../lab/safety.js';
import type { LabPaths } from '../lab/paths.js';

/** NAME_MAX of Linux, macOS and Windows filesystems, in bytes. */
const NAME_MAX = 255;
/**
 * The most a stem gets around it: a stream's '.log.' and a rotation number up to 2^53 (16
 * digits, 21 bytes), or writeFileAtomic's temporary name for <stem>.yaml and <stem>.sink:
 * '.' before, '.yaml', '.<pid up to 7 digits>.<8 hex>.tmp' after (27 bytes).
 */
const LONGEST_AROUND = Math.max('.log.'.length + 16, '.'.length + '.yaml'.length + '.1234567.12345678.tmp'.length);
/** Stems are at most this many bytes. */
export const STEM_MAX = NAME_MAX - LONGEST_AROUND;
/** 64 bits of SHA-256: two long names sharing a 200-character prefix and these bits will not happen. */
const HASH_CHARS = 16;
const HASHED = '_';

export function sinkFileStem(sink: string): string {
  if (Buffer.byteLength(sink) <= STEM_MAX && !sink.includes(HASHED)) return sink;
  const hash = createHash('sha256').update(sink).digest('hex').slice(0, HASH_CHARS);
  let prefix = sink.slice(0, STEM_MAX - HASHED.length - HASH_CHARS);
  // Sink names are ASCII; anything else (a name read from a file) is cut by bytes all the same.
  while (Buffer.byteLength(prefix) > STEM_MAX - HASHED.length - HASH_CHARS) prefix = prefix.slice(0, -1);
  return `${prefix}${HASHED}${hash}`;
}

/** <streamsDir>/<stem>.log: the stream a sink is written to now. Rotated files are this path plus .N. */
export function streamFile(streamsDir: string, sink: string): string {
  return join(streamsDir, `${sinkFileStem(sink)}.log`);
}

/** <stream>.N, the stream's Nth rotated file (1 newest); generation 0 is the stream itself. */
export function rotatedStreamFile(stream: string, generation: number): string {
  return generation === 0 ? stream : `${stream}.${generation}`;
}

/** Where a sink's own policy is kept (`sink create --policy`): a copy, so editing the original changes nothing unseen. */
export function sinkPolicyFile(paths: Pick<LabPaths, 'policiesDir'>, sink: string): string {
  // Named as the sink's stream is, so a 253-character sink name still fits in a file name.
  return join(paths.policiesDir, `${sinkFileStem(sink)}.yaml`);
}

const STREAM_FILE = /^(.+)\.log(?:\.([1-9]\d*))?$/;

/** default.log -> {stem default, 0}; default.log.2 -> {stem default, 2}; anything else -> null. */
export function parseStreamFileName(name: string): { stem: string; generation: number } | null {
  const m = STREAM_FILE.exec(name);
  return m ? { stem: m[1]!, generation: m[2] === undefined ? 0 : Number(m[2]) } : null;
}

/** A sink's stream files as listed: its rotated ones, oldest (highest generation) first, and whether <stem>.log is there. */
export interface StreamFiles {
  rotated: string[];
  live: boolean;
}

/** The stream files in `streamsDir`, by stem (none for a missing directory). */
export async function listStreamFiles(streamsDir: string): Promise<Map<string, StreamFiles>> {
  let names: string[];
  try {
    names = await readdir(streamsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const byStem = new Map<string, { files: StreamFiles; generations: Map<string, number> }>();
  for (const name of names) {
    const p = parseStreamFileName(name);
    if (p === null) continue;
    let s = byStem.get(p.stem);
    if (s === undefined) {
      s = { files: { rotated: [], live: false }, generations: new Map() };
      byStem.set(p.stem, s);
    }
    if (p.generation === 0) s.files.live = true;
    else s.generations.set(name, p.generation);
  }
  const out = new Map<string, StreamFiles>();
  for (const [stem, s] of byStem) {
    s.files.rotated = [...s.generations.keys()].sort((a, b) => s.generations.get(b)! - s.generations.get(a)!);
    out.set(stem, s.files);
  }
  return out;
}

function nameFile(streamsDir: string, stem: string): string {
  return join(streamsDir, `${stem}.sink`);
}

/**
 * Keeps the full name of a sink whose stem is hashed in <stem>.sink, before its stream is created,
 * so a reader that finds the stream finds the name (written whole and synced, replacing rather
 * than writing through whatever is there).
 */
export async function recordSinkName(streamsDir: string, sink: string): Promise<void> {
  const stem = sinkFileStem(sink);
  if (stem === sink) return;
  const path = nameFile(streamsDir, stem);
  const known = await readFileNoFollow(path).catch(() => null);
  if (known !== sink) await writeFileAtomic(path, sink, 0o600);
}

/**
 * Maps stems found on disk back to sink names: a plain stem is the name; a hashed one is read from
 * its <stem>.sink (checked to hash to it), else found among `known` names (the lab's sinks), else
 * shown as the stem itself so its events stay readable.
 */
export class SinkNames {
  private readonly cache = new Map<string, string>();
  private readonly byStem: Map<string, string>;

  constructor(
    private readonly streamsDir: string,
    known: readonly string[] = [],
  ) {
    this.byStem = new Map(known.map((k) => [sinkFileStem(k), k]));
  }

  async sinkOf(stem: string): Promise<string> {
    if (!stem.includes(HASHED)) return stem;
    const hit = this.cache.get(stem);
    if (hit !== undefined) return hit;
    let name = this.byStem.get(stem);
    if (name === undefined) {
      // Whatever else is there (a link, a FIFO) is no name: the stem is shown.
      const stored = await readFileNoFollow(nameFile(this.streamsDir, stem)).catch(() => null);
      // Not cached when missing: the name file may be being written right now.
      if (stored === null || sinkFileStem(stored) !== stem) return stem;
      name = stored;
    }
    this.cache.set(stem, name);
    return name;
  }
}
