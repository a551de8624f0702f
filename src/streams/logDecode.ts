/**
 * The lines of one audit log file as events: what the API server's log backend writes (one Event
 * per line, v1 or v1beta1; a line may also hold an EventList or a JSON array, as the receiver takes
 * them), or, when the file's first line is a lone `{` or `[`, JSON documents over many lines
 * (jsonDocument.ts). Every line is checked as the receiver checks a body (decodeBody); a line that
 * is not audit events is handed to `refused` with its number and the receiver's reason.
 */
import { type AuditEvent, DecodeError, decodeBody, eventJson } from '../audit/eventShape.js';
import { asStoredEvent } from '../audit/filter.js';
import { DocumentScanner } from './jsonDocument.js';
import type { LineSink } from './logLines.js';
import { MAX_LINE_BYTES } from './logLines.js';
import type { ReadEvent } from './merge.js';

export interface DecodedSink {
  events: ReadEvent[];
  refused(lineNo: number, reason: string): void;
}

/**
 * How pretty-printers begin a document (JSON.stringify with an indent, jq, kubectl -o json, Go's
 * MarshalIndent, Python's json.dumps): a line that is only its opening bracket. A log line never is.
 */
const isDocumentStart = (text: string) => {
  const t = text.trim();
  return t === '{' || t === '[';
};

const isBlank = (text: string) => text.length === 0 || (text.charCodeAt(0) <= 0x20 && text.trim() === '');

export class LogDecoder implements LineSink {
  /** Undefined until the first line that is not blank tells which. */
  private document: DocumentScanner | null | undefined;

  /** `name` is the file as the user named it: each event's file, and its sink unless `sink` is given. */
  constructor(
    private readonly name: string,
    private readonly to: DecodedSink,
    private readonly sink = name,
  ) {}

  line(text: string, lineNo: number): void {
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a byte order mark
    if (this.document === undefined) {
      if (isBlank(text)) return;
      this.document = isDocumentStart(text) ? this.scanner() : null;
    }
    if (this.document !== null) {
      this.document.line(text, lineNo);
      return;
    }
    if (isBlank(text)) return;
    let events: AuditEvent[];
    try {
      events = decodeBody(text, '');
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.to.refused(lineNo, err.message);
      return;
    }
    // A line that is one event is kept as it is (`tail -o jsonl` prints it byte for byte).
    if (events.length === 1)
      this.to.events.push({ sink: this.sink, file: this.name, lineNo, text, event: asStoredEvent(events[0]!) });
    else this.place(events, lineNo);
  }

  overlong(lineNo: number, bytes: number): void {
    if (this.document?.overlong(lineNo) === true) return;
    this.to.refused(
      lineNo,
      `a line of ${bytes} bytes, over the ${MAX_LINE_BYTES / 1024 / 1024} MiB a line may have (for an EventList on one line: jq -c '.items[]' FILE makes it a log)`,
    );
  }

  /** At the end of the input: a JSON document still open is refused. */
  end(): void {
    this.document?.end();
  }

  private place(events: AuditEvent[], lineNo: number): void {
    for (const event of events)
      this.to.events.push({
        sink: this.sink,
        file: this.name,
        lineNo,
        text: eventJson(event),
        event: asStoredEvent(event),
      });
  }

  private scanner(): DocumentScanner {
    return new DocumentScanner({
      events: (events, lineNo) => this.place(events, lineNo),
      refused: (lineNo, reason) => this.to.refused(lineNo, reason),
    });
  }
}
