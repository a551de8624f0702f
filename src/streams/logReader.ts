/**
 * The events of one audit log, a chunk at a time: its bytes (logChunks.ts) split into lines
 * (logLines.ts) and decoded (logDecode.ts); lines that are not events go to `refused` with their
 * place. Memory stays bounded: one chunk, the line it cuts, and the events decoded from it.
 */
import type { SkippedLine } from './events.js';
import { type Chunks, PlainChunks } from './logChunks.js';
import { LogDecoder } from './logDecode.js';
import { LineSplitter } from './logLines.js';
import type { ReadEvent } from './merge.js';

/** A log file as the user named it: `path` resolved ('-' for stdin), `shown` as given. */
export interface LogFile {
  path: string;
  shown: string;
  /**
   * One of a lab's own stream files, not a path the user gave: opened only as a regular file,
   * never through a link (a user's --file may be a FIFO or a link on purpose: `--file <(zcat x)`).
   */
  own?: boolean;
  /** The sink whose stream it is (its events' `sink`); a file the user gave is its own sink, named as given. */
  sink?: string;
}

/** A zlib error (corrupt or cut short gzip data), as opposed to one of the file system. */
const isZlibError = (err: unknown) =>
  typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('Z_');

/** The events of one log file, a chunk at a time; refused lines go to `refused` with their place. */
export class LogReader {
  private readonly lines = new LineSplitter();
  private decoder: LogDecoder;
  private readonly decoded = {
    events: [] as ReadEvent[],
    refused: (lineNo: number, reason: string) => this.refused({ file: this.file.shown, line: lineNo, reason }),
  };
  /** The gzip data broke off: what is left of the last line is not a line. */
  private broken = false;
  /** Events read already, handed out first (see putBack). */
  private ready: ReadEvent[] | null = null;

  constructor(
    readonly file: LogFile,
    readonly chunks: Chunks,
    private readonly refused: (line: SkippedLine) => void,
  ) {
    this.decoder = new LogDecoder(file.shown, this.decoded, file.sink);
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
      this.decoded.refused(
        this.lines.lineNo + 1,
        `gzip data is corrupt or cut short (${(err as Error).message}); nothing after this can be read`,
      );
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

  /** Read only once (standard input, a pipe): the reader that peeked must be the one that goes on. */
  get once(): boolean {
    return this.chunks.once;
  }

  /** Whether a line has begun that waits for its newline. */
  get partial(): boolean {
    return this.lines.partial;
  }

  /**
   * At the end of the input: its last line, even without a newline (unless `lastLine` is false: a
   * lab's live stream, whose unfinished line the receiver is still writing), and a JSON document left open.
   */
  finish(lastLine = true): ReadEvent[] {
    if (!this.broken && lastLine) this.lines.rest(this.decoder);
    this.decoder.end();
    return this.take();
  }

  /** Reads on to the end of what there is now without decoding it: only what is written later is read. */
  async skipToEnd(): Promise<void> {
    const nowhere = { line: () => {}, overlong: () => {} };
    for (let chunk = await this.chunks.read(); chunk !== null; chunk = await this.chunks.read()) {
      this.lines.push(chunk, nowhere);
    }
  }

  /** Reads the file again from its start (it was truncated and written anew). */
  restart(): void {
    if (this.plain !== null) this.plain.position = 0;
    this.lines.restart();
    this.decoder = new LogDecoder(this.file.shown, this.decoded, this.file.sink);
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
