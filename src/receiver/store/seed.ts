/**
 * Seeding a stream's dedupe keys from what its files already hold, so retries of events stored
 * before a restart are dropped.
 */
import { constants } from 'node:fs';
import { lstat, type FileHandle } from 'node:fs/promises';
import { rotatedStreamFile } from '../../streams/names.js';
import { dedupeKey, type DedupeKey } from './lines.js';
import { openNoFollow } from './links.js';
import type { StreamOptions } from './options.js';
import type { SinkKeys } from './sharedKeys.js';

const ID_MARK = Buffer.from('"auditID":"');
const STAGE_MARK = Buffer.from('"stage":"');
const SEED_CHUNK = 1024 * 1024;

/**
 * The key of one of our lines (JSON.stringify of a v1 Event or the API server's own bytes: auditIDs
 * are UUIDs and stages plain words), from its bytes; null when it has none.
 */
function keyOfLine(line: Buffer): DedupeKey | null {
  const i = line.indexOf(ID_MARK);
  if (i < 0) return null;
  const idStart = i + ID_MARK.length;
  let idEnd = idStart;
  while (idEnd < line.length && line[idEnd] !== 0x22 && line[idEnd] !== 0x5c) idEnd++;
  if (line[idEnd] !== 0x22) return null;
  const j = line.indexOf(STAGE_MARK);
  if (j < 0) return null;
  const stStart = j + STAGE_MARK.length;
  let stEnd = stStart;
  while (stEnd < line.length && (line[stEnd]! | 0x20) >= 0x61 && (line[stEnd]! | 0x20) <= 0x7a) stEnd++;
  if (stEnd === stStart || line[stEnd] !== 0x22) return null;
  return dedupeKey(line.toString('utf8', idStart, idEnd), line.toString('latin1', stStart, stEnd));
}

/**
 * Calls `each` with the key of every whole line in the last `bytes` of a file, in file order, reading
 * a megabyte at a time: a partial first line is skipped when not at the file's start. Returns the
 * bytes covered and whether they reach the file's start; null when there is no file. (The whole
 * tail as one string, split into lines, was 16 MB per sink of garbage that V8 kept as heap.)
 */
async function tailKeys(
  path: string,
  bytes: number,
  each: (k: DedupeKey) => void,
): Promise<{ read: number; fromStart: boolean } | null> {
  let fh: FileHandle;
  try {
    fh = await openNoFollow(path, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(SEED_CHUNK);
    // Bytes of a line begun in the previous chunk.
    let carry: Buffer | null = null;
    let skipFirst = start > 0;
    for (let pos = start; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(SEED_CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let from = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
        const line: Buffer = carry ? Buffer.concat([carry, chunk.subarray(from, nl)]) : chunk.subarray(from, nl);
        carry = null;
        from = nl + 1;
        if (skipFirst) {
          skipFirst = false;
          continue;
        }
        const k = keyOfLine(line);
        if (k) each(k);
      }
      // The rest is copied: `buf` is read into again.
      if (from < bytesRead)
        carry = carry ? Buffer.concat([carry, chunk.subarray(from)]) : Buffer.from(chunk.subarray(from));
    }
    return { read: size - start, fromStart: start === 0 };
  } finally {
    await fh.close();
  }
}

/** The stream being seeded: its path, its open file and the size of that file's whole lines. */
export interface SeedCurrent {
  path: string;
  fh: FileHandle;
  size: number;
}

/**
 * Remembers what the stream already holds back to the dedupe window, oldest first, so retries
 * of it after a restart are dropped. A file's keys count as stored when the file was last
 * written (its mtime): never later than they were, so none leaves the window early; a rotated
 * file last written before the window holds nothing in it, nor do older ones.
 */
export async function seedKeys(
  current: SeedCurrent,
  opts: Pick<StreamOptions, 'now' | 'dedupeWindowMs' | 'seedBytes' | 'maxBackups'>,
  stored: SinkKeys,
): Promise<void> {
  const now = opts.now();
  const cutoff = now - opts.dedupeWindowMs;
  const plan: { path: string; bytes: number; time: number }[] = [];
  let budget = opts.seedBytes;
  for (let gen = 0; budget > 0 && gen <= opts.maxBackups; gen++) {
    const path = rotatedStreamFile(current.path, gen);
    const st =
      gen === 0
        ? await current.fh.stat()
        : await lstat(path).catch((err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return null;
            throw err;
          });
    // Rotation leaves no gaps: the first missing file is past the oldest.
    if (st === null) break;
    if (gen > 0 && st.mtimeMs < cutoff) break;
    const bytes = Math.min(gen === 0 ? current.size : st.size, budget);
    plan.unshift({ path, bytes, time: Math.min(st.mtimeMs, now) });
    budget -= bytes;
  }
  for (const p of plan) await tailKeys(p.path, p.bytes, (k) => stored.add(k, p.time));
  stored.expire(now);
}
