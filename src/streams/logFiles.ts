/**
 * Audit log files opened as the user named them: a plain file (read by position, so it can be
 * followed), a gzip file (told by its first bytes, 1f 8b, never by its name) streamed through
 * zlib, and standard input ('-') or a pipe (`--file <(zcat x)`), read once as they come, gzip or not.
 */
import { Readable, pipeline } from 'node:stream';
import { type FileHandle, open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { UserError } from '../errors.js';
import { openOwnFile } from '../lab/safety.js';
import type { SkippedLine } from './events.js';
import { CHUNK_BYTES, type Chunks, identity, PlainChunks, StreamChunks } from './logChunks.js';
import { type LogFile, LogReader } from './logReader.js';

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === GZIP_MAGIC[0] && b[1] === GZIP_MAGIC[1];

function gunzipped(source: Readable, chunkBytes = CHUNK_BYTES): NodeJS.ReadableStream {
  // pipeline destroys both on an error, so the reader sees zlib's error where it reads. Output in
  // chunks as large as a plain file's (zlib's default 16 KiB made batches of twenty events).
  return pipeline(source, createGunzip({ chunkSize: chunkBytes }), () => {});
}

function cannotRead(shown: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'it is a directory'
        : code === 'EACCES'
          ? 'permission denied'
          : (err as Error).message;
  return new UserError(
    `cannot read audit log ${shown}: ${why}`,
    'give --file an audit log the API server wrote (--audit-log-path), gzip or not, or - for standard input',
  );
}

/** A file opened as a plain file (following reads it on) or, when it starts with gzip's magic, through zlib. */
async function openPath(file: LogFile, chunkBytes: number): Promise<Chunks> {
  let fh: FileHandle;
  try {
    fh = file.own === true ? await openOwnFile(file.path) : await open(file.path, 'r');
  } catch (err) {
    throw err instanceof UserError ? err : cannotRead(file.shown, err);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    // A pipe (`--file <(zcat x)`) has no positions to read at: read once, as it comes, like standard input.
    if (!st.isFile())
      return await openStream(fh.createReadStream({ highWaterMark: chunkBytes, autoClose: true }), chunkBytes);
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    if (!isGzip(head.subarray(0, bytesRead))) return new PlainChunks(fh, identity(st), chunkBytes);
    // Compressed input a quarter chunk at a time: audit logs shrink about tenfold, and zlib hands on all it inflates at once.
    return new StreamChunks(
      gunzipped(
        fh.createReadStream({ start: 0, highWaterMark: chunkBytes / 4, autoClose: true }) as unknown as Readable,
        chunkBytes,
      ),
    );
  } catch (err) {
    await fh.close().catch(() => {});
    throw err instanceof UserError ? err : cannotRead(file.shown, err);
  }
}

const asBuffer = (v: Buffer | string) => (typeof v === 'string' ? Buffer.from(v) : v);

/** Standard input or a pipe, read once as it comes, gunzipped when its first bytes say gzip (`zcat` is then not needed). */
async function openStream(stream: NodeJS.ReadableStream, chunkBytes: number): Promise<Chunks> {
  const it = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  // The first two bytes tell gzip; a pipe may hand them over one at a time.
  const head: Buffer[] = [];
  let ended = false;
  while (!ended && Buffer.concat(head).length < 2) {
    const r = await it.next();
    if (r.done === true) ended = true;
    else head.push(asBuffer(r.value));
  }
  const first = Buffer.concat(head);
  async function* all() {
    yield first;
    if (ended) return;
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield asBuffer(r.value);
  }
  const source = Readable.from(all(), { objectMode: false });
  return new StreamChunks(isGzip(first) ? gunzipped(source, chunkBytes) : source, true);
}

function openStdin(stdin: NodeJS.ReadableStream | undefined, chunkBytes: number): Promise<Chunks> {
  if (stdin === undefined) throw new UserError('--file - reads standard input, and there is none here');
  return openStream(stdin, chunkBytes);
}

/** Opens a log file, or stdin for '-'; a file that cannot be read is a UserError. */
export async function openLog(
  file: LogFile,
  stdin: NodeJS.ReadableStream | undefined,
  refused: (line: SkippedLine) => void,
  chunkBytes = CHUNK_BYTES,
): Promise<LogReader> {
  return new LogReader(
    file,
    file.path === '-' ? await openStdin(stdin, chunkBytes) : await openPath(file, chunkBytes),
    refused,
  );
}

/**
 * Opens `file` as a plain file, read from its start (a lab's own stream: only a regular file, never
 * through a link); null when it is not there (any more: rotation moves names while we read).
 */
export async function openPlain(file: LogFile, refused: (line: SkippedLine) => void): Promise<LogReader | null> {
  let fh: FileHandle;
  try {
    fh = file.own === true ? await openOwnFile(file.path) : await open(file.path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return new LogReader(file, new PlainChunks(fh, identity(await fh.stat())), refused);
}

/** Opens `file` as a plain file if its identity is still `id` (names may move while following); null otherwise. */
export async function openPlainAs(
  file: LogFile,
  id: string,
  refused: (line: SkippedLine) => void,
): Promise<LogReader | null> {
  const reader = await openPlain(file, refused);
  if (reader !== null && reader.plain?.id !== id) {
    await reader.close();
    return null;
  }
  return reader;
}
