/**
 * Lines out of the byte chunks of a log file, split on the Buffer (a `\n` byte never sits inside a
 * UTF-8 sequence, so each line decodes on its own) and numbered from 1. A line is handed out only
 * once its newline is there; what follows the last newline waits for the next chunk, or for
 * `rest()` at the end of the input.
 */

/**
 * Longer lines are refused rather than held, so what one file holds at once stays bounded whatever
 * it holds (a line, its string and its JSON are several times its size). The receiver takes at
 * most this much in one request, so no event it stored is longer. An EventList written on one
 * line this big can be split with `jq -c '.items[]' FILE`, or pretty-printed (`jq . FILE`), which
 * is read item by item.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

export interface LineSink {
  line(text: string, lineNo: number): void;
  /** A line over MAX_LINE_BYTES, dropped. */
  overlong(lineNo: number, bytes: number): void;
}

export class LineSplitter {
  /** Lines handed out so far (an overlong one counts). */
  lineNo = 0;
  /** The line that waits for its newline, in pieces (joined once, when it ends). */
  private carry: Buffer[] = [];
  private carried = 0;
  /** The carried line is over the limit: its bytes are only counted, up to its newline. */
  private dropping = false;

  /** Hands every line that `chunk` completes to `to`. */
  push(chunk: Buffer, to: LineSink): void {
    let start = 0;
    let nl = chunk.indexOf(0x0a);
    if (nl !== -1 && this.partial) {
      this.keep(chunk.subarray(0, nl));
      this.emitCarried(to);
      start = nl + 1;
      nl = chunk.indexOf(0x0a, start);
    }
    for (; nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      this.emit(chunk, start, nl, to);
      start = nl + 1;
    }
    // A copy: the caller may reuse `chunk` for its next read.
    if (start < chunk.length) this.keep(Buffer.from(chunk.subarray(start)));
  }

  /** At the end of the input: the last line, which has no newline, if there is one. */
  rest(to: LineSink): void {
    if (this.partial) this.emitCarried(to);
  }

  /** Whether part of a line waits for its newline. */
  get partial(): boolean {
    return this.carried > 0 || this.dropping;
  }

  /** Forgets the partial line and the count (a file truncated and written again from its start). */
  restart(): void {
    this.drop();
    this.lineNo = 0;
  }

  private drop(): void {
    this.carry = [];
    this.carried = 0;
    this.dropping = false;
  }

  private keep(piece: Buffer): void {
    this.carried += piece.length;
    if (this.dropping) return;
    if (this.carried > MAX_LINE_BYTES) {
      this.dropping = true;
      this.carry = [];
    } else this.carry.push(piece);
  }

  private emitCarried(to: LineSink): void {
    if (this.dropping) {
      this.lineNo++;
      to.overlong(this.lineNo, this.carried);
    } else {
      const line = Buffer.concat(this.carry, this.carried);
      this.emit(line, 0, line.length, to);
    }
    this.drop();
  }

  private emit(buf: Buffer, start: number, end: number, to: LineSink): void {
    this.lineNo++;
    if (end - start > MAX_LINE_BYTES) {
      to.overlong(this.lineNo, end - start);
      return;
    }
    // CRLF files (saved on Windows): the \r is not part of the line.
    to.line(buf.toString('utf8', start, end > start && buf[end - 1] === 0x0d ? end - 1 : end), this.lineNo);
  }
}
