/**
 * The bytes of an audit log, a chunk at a time: a plain file read by position through a
 * descriptor held open (so following goes on where reading stopped, and can tell rotation and
 * truncation), or a stream (gunzipped, or standard input as it comes).
 */
import { type FileHandle, stat } from 'node:fs/promises';

/** A file told apart from others by what it is, never by its name: device, inode and birth time. */
export function identity(s: { dev: number; ino: number; birthtimeMs: number }): string {
  // The birth time guards against a deleted file's inode number coming back for a new one.
  return `${s.dev}:${s.ino}:${s.birthtimeMs}`;
}

/** The identity of the file at `path` now; undefined when there is none. */
export async function statIdentity(path: string): Promise<string | undefined> {
  try {
    return identity(await stat(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Bytes read at a time: about 350 of the API server's Metadata events. Larger chunks were no
 * faster (a batch's events no longer fit the CPU's cache when merged or counted) and held more.
 */
export const CHUNK_BYTES = 256 * 1024;

export interface Chunks {
  /** The next bytes; null at the end (of a plain file: the end for now, it may grow). */
  read(): Promise<Buffer | null>;
  close(): Promise<void>;
  /** Its bytes come only once (standard input, a pipe): it cannot be opened again to read them anew. */
  readonly once: boolean;
}

/** A plain file read by position, so its reader can check where it is against the file's size. */
export class PlainChunks implements Chunks {
  readonly once = false;
  /** Bytes handed out so far; set back to 0 to read the file again. */
  position = 0;
  /** The next chunk, asked for while the last one is decoded (a full chunk says there is more). */
  private ahead: { at: number; read: Promise<Buffer> } | null = null;

  constructor(
    readonly fh: FileHandle,
    /** The file's identity (`identity`) when opened. */
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
export class StreamChunks implements Chunks {
  private readonly it: AsyncIterator<Buffer>;

  constructor(
    private readonly stream: NodeJS.ReadableStream & { destroy?(): void },
    readonly once = false,
  ) {
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
