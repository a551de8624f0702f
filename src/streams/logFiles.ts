/**
 * Audit log files opened as the user named them, and read a chunk at a time into events: a plain
 * file by position through a descriptor held open (so following goes on where reading stopped,
 * and can tell rotation and truncation), a gzip file (told by its first bytes, 1f 8b, never by
 * its name) streamed through zlib, and standard input ('-'), gzip or not. Memory stays bounded:
 * one chunk, the line it cuts, and the events decoded from it.
 */
import { Readable, pipeline } from 'node:stream';
import { type FileHandle, open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { UserError } from '../errors.js';
import type { SkippedLine } from './events.js';
import { identity } from './follow.js';
import { LogDecoder } from './logDecode.js';
import { LineSplitter } from './logLines.js';
import type { ReadEvent } from './merge.js';

/** A log file as the user named it: `path` resolved ('-' for stdin), `shown` as given. */
export interface LogFile {
  path: string;
  shown: string;
}

/**
 * Bytes read at a time: about 350 of the API server's Metadata events. Larger chunks were no
 * faster (a batch's events no longer fit the CPU's cache when merged or counted) and held more.
 */
export const CHUNK_BYTES = 256 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === GZIP_MAGIC[0] && b[1] === GZIP_MAGIC[1];

interface Chunks {
  /** The next bytes; null at the end (of a plain file: the end for now, it may grow). */
  read(): Promise<Buffer | null>;
  close(): Promise<void>;
}

/** A plain file read by position, so its reader can check where it is against the file's size. */
export class PlainChunks implements Chunks {
  /** Bytes handed out so far; set back to 0 to read the file again. */
  position = 0;
  /** The next chunk, asked for while the last one is decoded (a full chunk says there is more). */
  private ahead: { at: number; read: Promise<Buffer> } | null = null;

  constructor(
    readonly fh: FileHandle,
    /** The file's identity (follow.ts identity) when opened. */
    readonly id: string,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  async read(): Promise<Buffer | null> {
    const ahead = this.ahead;
    this.ahead = null;
    const chunk = await (ahead !== null && ahead.at === this.position ? ahead.read : this.readAt(this.position));
    if (chunk.length === 0) return null;
    this.position += chunk.length;
    if (chunk.length === this.chunkBytes) {
      const read = this.readAt(this.position);
      read.catch(() => {}); // its error is met where it is awaited; unawaited (closed early), it is moot
      this.ahead = { at: this.position, read };
    }
    return chunk;
  }

  private async readAt(position: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(this.chunkBytes);
    const { bytesRead } = await this.fh.read(buf, 0, this.chunkBytes, position);
    return buf.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    await this.ahead?.read.catch(() => {});
    await this.fh.close();
  }
}

/** A stream's chunks (gunzipped, or standard input as it comes). */
class StreamChunks implements Chunks {
  private readonly it: AsyncIterator<Buffer>;

  constructor(private readonly stream: NodeJS.ReadableStream & { destroy?(): void }) {
    this.it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async read(): Promise<Buffer | null> {
    let r: IteratorResult<Buffer>;
    try {
      r = await this.it.next();
    } catch (err) {
      // Closed before its end: by us (stdin, when the reading is stopped), so there is no more.
      if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return null;
      throw err;
    }
    if (r.done === true) return null;
    return typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  }

  async close(): Promise<void> {
    this.stream.destroy?.();
  }
}

function gunzipped(source: Readable, chunkBytes = CHUNK_BYTES): NodeJS.ReadableStream {
  // pipeline destroys both on an error, so the reader sees zlib's error where it reads. Output in
  // chunks as large as a plain file's (zlib's default 16 KiB made batches of twenty events).
  return pipeline(source, createGunzip({ chunkSize: chunkBytes }), () => {});
}

function cannotRead(shown: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new UserError(`cannot read audit log ${shown}: ${why}`, 'give --file an audit log the API server wrote (--audit-log-path), gzip or not, or - for standard input');
}

/** A file opened as a plain file (following reads it on) or, when it starts with gzip's magic, through zlib. */
async function openPath(file: LogFile, chunkBytes: number): Promise<Chunks> {
  let fh: FileHandle;
  try {
    fh = await open(file.path, 'r');
  } catch (err) {
    throw cannotRead(file.shown, err);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    if (!isGzip(head.subarray(0, bytesRead))) return new PlainChunks(fh, identity(st), chunkBytes);
    return new StreamChunks(gunzipped(fh.createReadStream({ start: 0, highWaterMark: chunkBytes, autoClose: true }) as unknown as Readable, chunkBytes));
  } catch (err) {
    await fh.close().catch(() => {});
    throw err instanceof UserError ? err : cannotRead(file.shown, err);
  }
}

const asBuffer = (v: Buffer | string) => (typeof v === 'string' ? Buffer.from(v) : v);

/** Standard input, gunzipped when its first bytes say gzip (`zcat` is then not needed). */
async function openStdin(stdin: NodeJS.ReadableStream | undefined): Promise<Chunks> {
  if (stdin === undefined) throw new UserError('--file - reads standard input, and there is none here');
  const it = (stdin as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
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
  return new StreamChunks(isGzip(first) ? gunzipped(source) : source);
}

/** Opens a log file, or stdin for '-'; a file that cannot be read is a UserError. */
export async function openLog(file: LogFile, stdin: NodeJS.ReadableStream | undefined, refused: (line: SkippedLine) => void, chunkBytes = CHUNK_BYTES): Promise<LogReader> {
  return new LogReader(file, file.path === '-' ? await openStdin(stdin) : await openPath(file, chunkBytes), refused);
}

/** Opens `path` as a plain file if its identity is still `id` (names may move while following); null otherwise. */
export async function openPlainAs(file: LogFile, id: string, refused: (line: SkippedLine) => void): Promise<LogReader | null> {
  let fh: FileHandle;
  try {
    fh = await open(file.path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (identity(await fh.stat()) !== id) {
    await fh.close();
    return null;
  }
  return new LogReader(file, new PlainChunks(fh, id), refused);
}

/** A zlib error (corrupt or cut short gzip data), as opposed to one of the file system. */
const isZlibError = (err: unknown) => typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('Z_');

/** The events of one log file, a chunk at a time; refused lines go to `refused` with their place. */
export class LogReader {
  private readonly lines = new LineSplitter();
  private decoder: LogDecoder;
  private readonly decoded = { events: [] as ReadEvent[], refused: (lineNo: number, reason: string) => this.refused({ file: this.file.shown, line: lineNo, reason }) };
  /** The gzip data broke off: what is left of the last line is not a line. */
  private broken = false;
  /** Events read already, handed out first (see putBack). */
  private ready: ReadEvent[] | null = null;

  constructor(
    readonly file: LogFile,
    readonly chunks: Chunks,
    private readonly refused: (line: SkippedLine) => void,
  ) {
    this.decoder = new LogDecoder(file.shown, this.decoded);
  }

  /** The events of the next chunk (maybe none); null at the end of what there is now. */
  async next(): Promise<ReadEvent[] | null> {
    if (this.ready !== null) {
      const events = this.ready;
      this.ready = null;
      return events;
    }
    let chunk: Buffer | null;
    try {
      chunk = await this.chunks.read();
    } catch (err) {
      if (!isZlibError(err)) throw err;
      this.broken = true;
      this.decoded.refused(this.lines.lineNo + 1, `gzip data is corrupt or cut short (${(err as Error).message}); nothing after this can be read`);
      return null;
    }
    if (chunk === null) return null;
    this.lines.push(chunk, this.decoder);
    return this.take();
  }

  /** Gives back events read from this reader (to place the file among others), for next() to hand out first. */
  putBack(events: ReadEvent[]): void {
    this.ready = events;
  }

  /** The plain file read, to check against what is at its path now; null for gzip and stdin. */
  get plain(): PlainChunks | null {
    return this.chunks instanceof PlainChunks ? this.chunks : null;
  }

  /** Whether a line has begun that waits for its newline. */
  get partial(): boolean {
    return this.lines.partial;
  }

  /** At the end of the input: its last line, even without a newline, and a JSON document left open. */
  finish(): ReadEvent[] {
    if (!this.broken) this.lines.rest(this.decoder);
    this.decoder.end();
    return this.take();
  }

  /** Reads the file again from its start (it was truncated and written anew). */
  restart(): void {
    if (this.plain !== null) this.plain.position = 0;
    this.lines.restart();
    this.decoder = new LogDecoder(this.file.shown, this.decoded);
    this.decoded.events = [];
  }

  close(): Promise<void> {
    return this.chunks.close().catch(() => {});
  }

  private take(): ReadEvent[] {
    const events = this.decoded.events;
    this.decoded.events = [];
    return events;
  }
}
