/**
 * Audit events out of JSON documents spread over many lines: an EventList saved from an API or
 * pretty-printed (`jq . list.json`, `kubectl ... -o json`), or Events one after another as `jq .`
 * prints a log. Each top-level document is checked as the receiver checks a body (decodeBody).
 *
 * The items of an EventList whose kind and apiVersion come before its items (as Go, kubectl and
 * jq write it) are decoded one by one as each ends, each placed at the line it starts on, so a
 * list of any size streams. Any other document is held whole (up to MAX_DOCUMENT_CHARS) and
 * decoded at its end, its events placed at the line the document starts on. Either way an item
 * that is not an event is refused alone (with its index in the reason), the others are kept.
 */
import { type AuditEvent, checkApiVersion, DecodeError, decodeBody, decodeListItem } from '../audit/eventShape.js';
import { isObject } from '../audit/model.js';

/** The most text held for one document or item; past it the document is refused, not held. */
export const MAX_DOCUMENT_CHARS = 64 * 1024 * 1024;

export interface DocumentSink {
  /** Events decoded from the document or item that starts at `lineNo`. */
  events(events: AuditEvent[], lineNo: number): void;
  /** Text at `lineNo` that is not audit events, and why (decodeBody's reasons). */
  refused(lineNo: number, reason: string): void;
}

// Char codes, local on purpose: the scan loop reads them for every byte, and imported from one
// shared module they made checkEventList ~30% slower (V8 inlines a module's own consts).
const Q = 0x22;
const BS = 0x5c;
const LB = 0x7b;
const RB = 0x7d;
const LS = 0x5b;
const RS = 0x5d;
const COMMA = 0x2c;

/**
 * What the document being read is collecting: all of it (`whole`), an EventList's items one by one
 * (`items`), the list's members after its items (`tail`), or nothing, once refused (`skip`).
 */
type Mode = 'whole' | 'items' | 'tail' | 'skip';

interface Piece {
  startLine: number;
  parts: string[];
  chars: number;
}

interface Doc extends Piece {
  mode: Mode;
  object: boolean;
  /** The last string closed directly in the document's object, with its quotes: a key before `[`. */
  lastKey: string;
  /** `items` mode: the list's text before its items' `[`, its version, the next item's index. */
  head: string;
  version: string;
  index: number;
  item: Piece | null;
}

const piece = (startLine: number): Piece => ({ startLine, parts: [], chars: 0 });

export class DocumentScanner {
  private doc: Doc | null = null;
  /** Open objects and arrays: the document's own is depth 1, an EventList item's own depth 3. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  private stringStart = 0;

  constructor(private readonly to: DocumentSink) {}

  line(text: string, lineNo: number): void {
    // `seg`: where the part of this line not yet given to the document (or its item) starts.
    let seg = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BS) this.escaped = true;
        else if (c === Q) {
          this.inString = false;
          if (this.depth === 1 && this.doc !== null) this.doc.lastKey = text.slice(this.stringStart, i + 1);
        }
        continue;
      }
      if (c === 0x20 || c === 0x09 || c === 0x0d) continue;
      const doc = this.doc;
      if (doc === null) {
        if (c === LB || c === LS) {
          this.doc = { ...piece(lineNo), mode: 'whole', object: c === LB, lastKey: '', head: '', version: '', index: 0, item: null };
          this.depth = 1;
          seg = i;
          continue;
        }
        this.to.refused(lineNo, `malformed JSON: ${JSON.stringify(text[i])} outside a JSON document`);
        return;
      }
      if (doc.mode === 'items' && this.depth === 2) {
        if (c === COMMA || c === RS) {
          if (doc.item !== null) this.endItem(doc, text.slice(seg, i));
          else if (c === COMMA) this.to.refused(lineNo, `malformed JSON: items[${doc.index}] is missing (a comma follows nothing)`);
          seg = i + 1;
          if (c === RS) {
            // The items end; what follows belongs to the list again.
            doc.mode = 'tail';
            this.depth = 1;
          }
          continue;
        }
        if (c === RB) {
          this.refuse(doc, doc.startLine, 'malformed JSON: the items list is closed with }');
          this.depth = 1;
          continue;
        }
        if (doc.item === null) {
          doc.item = piece(lineNo);
          seg = i;
        }
      }
      if (c === Q) {
        this.inString = true;
        this.stringStart = i;
      } else if (c === LB || c === LS) {
        if (c === LS && this.depth === 1 && doc.mode === 'whole' && doc.object && doc.lastKey === '"items"' && this.startItems(doc, text.slice(seg, i))) seg = i + 1;
        this.depth++;
      } else if (c === RB || c === RS) {
        if (--this.depth === 0) {
          this.endDocument(doc, text.slice(seg, i + 1));
          seg = i + 1;
        }
      }
    }
    // A JSON string never holds a raw newline: whatever is open here is broken, and stays local.
    this.inString = false;
    this.escaped = false;
    if (this.doc !== null) this.collect(this.doc, `${text.slice(seg)}\n`);
  }

  /** At the end of the input: a document still open is refused where it (or its open item) starts. */
  end(): void {
    const doc = this.doc;
    if (doc === null) return;
    if (doc.mode === 'items' && doc.item !== null) this.to.refused(doc.item.startLine, `items[${doc.index}]: malformed JSON: the input ends inside it`);
    else if (doc.mode !== 'skip') this.to.refused(doc.startLine, 'malformed JSON: the input ends before this document is closed');
    this.doc = null;
    this.depth = 0;
  }

  /**
   * At the `[` of a list's items: when what comes before (`rest` ends this line's part of it) makes
   * an EventList with a good apiVersion, its items are read one by one from here on. False to go
   * on holding the document whole (another shape, or kind after items: `jq -S` sorts keys).
   */
  private startItems(doc: Doc, rest: string): boolean {
    const head = doc.parts.join('') + rest;
    let envelope: unknown;
    try {
      envelope = JSON.parse(`${head}[]}`);
    } catch {
      return false;
    }
    if (!isObject(envelope) || envelope.kind !== 'EventList') return false;
    try {
      doc.version = checkApiVersion(envelope.apiVersion, '');
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.refuse(doc, doc.startLine, err.message);
      return false;
    }
    doc.mode = 'items';
    doc.head = head;
    doc.parts = [];
    doc.chars = 0;
    return true;
  }

  private endItem(doc: Doc, rest: string): void {
    const item = doc.item!;
    doc.item = null;
    const index = doc.index++;
    if (item.chars < 0) return; // refused when it grew too large
    try {
      this.to.events([decodeListItem(item.parts.join('') + rest, doc.version, index)], item.startLine);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.to.refused(item.startLine, err.message);
    }
  }

  private endDocument(doc: Doc, rest: string): void {
    this.doc = null;
    const text = doc.parts.join('') + rest;
    try {
      if (doc.mode === 'whole') this.to.events(decodeBody(text, '', (err) => this.to.refused(doc.startLine, err.message)), doc.startLine);
      else if (doc.mode === 'tail') checkEnvelope(`${doc.head}[]${text}`, doc.version);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.to.refused(doc.startLine, err.message);
    }
  }

  private collect(doc: Doc, text: string): void {
    if (doc.mode === 'skip') return;
    if (doc.mode === 'items') {
      const item = doc.item;
      if (item === null || item.chars < 0) return;
      if (item.chars + text.length > MAX_DOCUMENT_CHARS) {
        this.to.refused(item.startLine, `items[${doc.index}]: longer than ${MAX_DOCUMENT_CHARS / 1024 / 1024} MiB`);
        item.chars = -1;
        item.parts = [];
        return;
      }
      item.parts.push(text);
      item.chars += text.length;
      return;
    }
    if (doc.chars + text.length > MAX_DOCUMENT_CHARS) {
      this.refuse(doc, doc.startLine, `a JSON document longer than ${MAX_DOCUMENT_CHARS / 1024 / 1024} MiB that is not an EventList with its kind and apiVersion before its items (convert it to one event per line: jq -c '.items[]')`);
      return;
    }
    doc.parts.push(text);
    doc.chars += text.length;
  }

  /** Refuses the document and reads the rest of it without keeping anything. */
  private refuse(doc: Doc, lineNo: number, reason: string): void {
    this.to.refused(lineNo, reason);
    doc.mode = 'skip';
    doc.parts = [];
    doc.item = null;
  }
}

/** A streamed list's members, read again with its items left out: still an EventList of `version`. */
function checkEnvelope(text: string, version: string): void {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch (err) {
    throw new DecodeError(400, `malformed JSON: ${(err as Error).message}`);
  }
  if (!isObject(envelope) || envelope.kind !== 'EventList') throw new DecodeError(400, 'kind changes after the items: want an EventList');
  if (checkApiVersion(envelope.apiVersion, '') !== version) throw new DecodeError(400, 'apiVersion changes after the items');
}
