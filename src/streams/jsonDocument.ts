/**
 * Audit events out of JSON documents spread over many lines: an EventList saved from an API or
 * pretty-printed (`jq . list.json`, `jq -S`, `kubectl ... -o json`), a JSON array of Events, or
 * Events one after another as `jq .` prints a log. Each top-level document is checked as the
 * receiver checks a body (decodeBody).
 *
 * Lists are read item by item, each item decoded as it ends and placed at the line it starts on,
 * so a list of any size streams: the elements of a JSON array, and the items of an EventList whose
 * apiVersion comes before its items (its kind before them, as Go, kubectl and jq write it, or
 * after them, as `jq -S` sorts the keys: then it is checked at the list's end). Any other document
 * is held whole and decoded at its end, its events placed at the line the document starts on.
 * Either way an item that is not an event is refused alone (with its index in the reason), the
 * others are kept. The text held at once is one item or one document of at most
 * MAX_DOCUMENT_CHARS (and the line being read); past that it is refused, not held.
 */
import {
  type AuditEvent,
  checkApiVersion,
  DecodeError,
  decodeArrayElement,
  decodeBody,
  decodeListItem,
} from '../audit/eventShape.js';
import { isObject } from '../audit/model.js';
import { MAX_LINE_BYTES } from './logLines.js';

/** The most text held for one document or item: as much as a line may have. */
export const MAX_DOCUMENT_CHARS = MAX_LINE_BYTES;
const LIMIT_MIB = MAX_DOCUMENT_CHARS / 1024 / 1024;

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
 * What the document being read is collecting: all of it (`whole`), a list's items one by one
 * (`items`), an EventList's members after its items (`tail`), or nothing, once refused (`skip`).
 */
type Mode = 'whole' | 'items' | 'tail' | 'skip';

interface Piece {
  startLine: number;
  parts: string[];
  chars: number;
  /** The last parts, as they came: not joined into one yet (see hold). */
  loose: number;
}

/** Lines' parts joined into one string this often: held as they came, short lines cost several times their text. */
const JOIN_EVERY = 512;

function hold(p: Piece, text: string): void {
  p.parts.push(text);
  p.chars += text.length;
  if (++p.loose < JOIN_EVERY) return;
  p.parts.push(p.parts.splice(p.parts.length - p.loose).join(''));
  p.loose = 0;
}

interface Doc extends Piece {
  mode: Mode;
  object: boolean;
  /** The last string closed directly in the document's object is "items": a key, when `[` follows. */
  afterItemsKey: boolean;
  /** `items` mode: where the list's commas are, 1 for a JSON array's elements, 2 for an EventList's items. */
  listDepth: number;
  /** An EventList's version and kind, as its members before the items say ('' and undefined for an array). */
  version: string;
  kind: unknown;
  /** The next item's index, and the item being read. */
  index: number;
  item: Piece | null;
}

const piece = (startLine: number): Piece => ({ startLine, parts: [], chars: 0, loose: 0 });

/** A JSON array is read element by element from its `[`; an object whole until its items show it is an EventList. */
const newDoc = (startLine: number, object: boolean): Doc => ({
  ...piece(startLine),
  mode: object ? 'whole' : 'items',
  object,
  afterItemsKey: false,
  listDepth: object ? 2 : 1,
  version: '',
  kind: undefined,
  index: 0,
  item: null,
});

/** How reasons name an item of the list: `items[3]` of an EventList, `[3]` of an array. */
const itemName = (doc: Doc, index: number) => (doc.object ? `items[${index}]` : `[${index}]`);

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
          // A flag, not the key's text: a slice would keep this whole line alive with the document.
          if (this.depth === 1)
            this.doc!.afterItemsKey = i - this.stringStart === 6 && text.startsWith('"items', this.stringStart);
        }
        continue;
      }
      if (c === 0x20 || c === 0x09 || c === 0x0d) continue;
      const doc = this.doc;
      if (doc === null) {
        if (c === LB || c === LS) {
          this.doc = newDoc(lineNo, c === LB);
          this.depth = 1;
          seg = c === LB ? i : i + 1;
          continue;
        }
        this.to.refused(lineNo, `malformed JSON: ${JSON.stringify(text[i])} outside a JSON document`);
        return;
      }
      if (doc.mode === 'items' && this.depth === doc.listDepth) {
        if (c === COMMA || c === RS) {
          if (doc.item !== null) this.endItem(doc, text.slice(seg, i));
          else if (c === COMMA)
            this.to.refused(lineNo, `malformed JSON: ${itemName(doc, doc.index)} is missing (a comma follows nothing)`);
          seg = i + 1;
          if (c === RS) this.endList(doc);
          continue;
        }
        if (c === RB) {
          this.refuse(
            doc,
            doc.startLine,
            `malformed JSON: ${doc.object ? 'the items list' : 'the array'} is closed with }`,
          );
          if (--this.depth === 0) this.doc = null;
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
        if (
          c === LS &&
          this.depth === 1 &&
          doc.mode === 'whole' &&
          doc.afterItemsKey &&
          this.startItems(doc, text.slice(seg, i))
        )
          seg = i + 1;
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

  /**
   * A line too long to hold (logLines.ts), dropped unseen: the item or document it belongs to is
   * refused, never decoded without it; a line met between items counts as an item of its own.
   * False when no document is open: the line is the caller's to refuse.
   */
  overlong(lineNo: number): boolean {
    const doc = this.doc;
    if (doc === null) return false;
    if (doc.mode === 'whole' || doc.mode === 'tail') this.refuse(doc, doc.startLine, tooLongDocument());
    else if (doc.mode === 'items' && doc.item === null) this.to.refused(lineNo, tooLong(itemName(doc, doc.index++)));
    else if (doc.mode === 'items' && doc.item!.chars >= 0) this.dropItem(doc, doc.item!);
    return true;
  }

  /** At the end of the input: a document still open is refused where it (or its open item) starts. */
  end(): void {
    const doc = this.doc;
    if (doc === null) return;
    if (doc.mode === 'items' && doc.item !== null)
      this.to.refused(doc.item.startLine, `${itemName(doc, doc.index)}: malformed JSON: the input ends inside it`);
    else if (doc.mode !== 'skip')
      this.to.refused(doc.startLine, 'malformed JSON: the input ends before this document is closed');
    this.doc = null;
    this.depth = 0;
  }

  /**
   * At the `[` of an object's items: when what comes before (`rest` ends this line's part of it)
   * has a good apiVersion and kind EventList, or no kind yet (`jq -S` puts it after the items),
   * the items are read one by one from here on. False to go on holding the document whole (items
   * before the apiVersion, or another shape).
   */
  private startItems(doc: Doc, rest: string): boolean {
    let envelope: unknown;
    try {
      envelope = JSON.parse(`${doc.parts.join('')}${rest}[]}`);
    } catch {
      return false;
    }
    if (!isObject(envelope) || (envelope.kind !== 'EventList' && envelope.kind !== undefined)) return false;
    try {
      doc.version = checkApiVersion(envelope.apiVersion, '');
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      if (envelope.kind === undefined) return false;
      this.refuse(doc, doc.startLine, err.message);
      return false;
    }
    doc.mode = 'items';
    doc.kind = envelope.kind;
    Object.assign(doc, { parts: [], chars: 0, loose: 0 });
    return true;
  }

  private endItem(doc: Doc, rest: string): void {
    const item = doc.item!;
    if (item.chars >= 0 && item.chars + rest.length > MAX_DOCUMENT_CHARS) this.dropItem(doc, item);
    doc.item = null;
    const index = doc.index++;
    if (item.chars < 0) return;
    const text = item.parts.join('') + rest;
    try {
      const events = doc.object
        ? [decodeListItem(text, doc.version, index)]
        : decodeArrayElement(text, index, (err) => this.to.refused(item.startLine, err.message));
      this.to.events(events, item.startLine);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.to.refused(item.startLine, err.message);
    }
  }

  /** At the `]` of the list: an EventList's members go on after it; an array is the whole document. */
  private endList(doc: Doc): void {
    if (doc.object) {
      doc.mode = 'tail';
      this.depth = 1;
      return;
    }
    this.doc = null;
    this.depth = 0;
  }

  private endDocument(doc: Doc, rest: string): void {
    this.doc = null;
    if (doc.mode === 'skip') return;
    if (doc.chars + rest.length > MAX_DOCUMENT_CHARS) {
      this.to.refused(doc.startLine, tooLongDocument());
      return;
    }
    const text = doc.parts.join('') + rest;
    try {
      if (doc.mode === 'whole')
        this.to.events(
          decodeBody(text, '', (err) => this.to.refused(doc.startLine, err.message)),
          doc.startLine,
        );
      else if (doc.mode === 'tail') checkEnvelope(text, doc);
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
      if (item.chars + text.length > MAX_DOCUMENT_CHARS) this.dropItem(doc, item);
      else hold(item, text);
      return;
    }
    if (doc.chars + text.length > MAX_DOCUMENT_CHARS) {
      this.refuse(doc, doc.startLine, tooLongDocument());
      return;
    }
    hold(doc, text);
  }

  /** Refuses the open item, too long to hold, and reads the rest of it without keeping anything. */
  private dropItem(doc: Doc, item: Piece): void {
    this.to.refused(item.startLine, tooLong(itemName(doc, doc.index)));
    Object.assign(item, { parts: [], chars: -1, loose: 0 });
  }

  /** Refuses the document and reads the rest of it without keeping anything. */
  private refuse(doc: Doc, lineNo: number, reason: string): void {
    this.to.refused(lineNo, reason);
    Object.assign(doc, { mode: 'skip', parts: [], chars: 0, loose: 0, item: null });
  }
}

const tooLong = (name: string) =>
  `${name}: longer than ${LIMIT_MIB} MiB, the most one event may have here (as the receiver takes in one request)`;

const tooLongDocument = () =>
  `a JSON document longer than ${LIMIT_MIB} MiB that cannot be read item by item (a JSON array can, and an EventList with its apiVersion before its items); ` +
  `for an EventList, jq -c '.items[]' FILE makes it a log of one event per line`;

/**
 * A streamed EventList's members after its items (`text`, from the `]` to the closing `}`): with
 * those before them, still an EventList of the version its items were read as.
 */
function checkEnvelope(text: string, doc: Doc): void {
  let after: unknown;
  try {
    after = JSON.parse(`{"items":[]${text}`);
  } catch (err) {
    throw new DecodeError(400, `malformed JSON: ${(err as Error).message}`);
  }
  const members = after as Record<string, unknown>;
  // A member given twice counts as its last, as JSON.parse and Go read it.
  const kind = Object.hasOwn(members, 'kind') ? members.kind : doc.kind;
  if (kind !== 'EventList') {
    if (doc.kind === 'EventList') throw new DecodeError(400, 'kind changes after the items: want an EventList');
    throw new DecodeError(
      400,
      `${kind === undefined ? 'no kind' : `kind ${JSON.stringify(kind)}`}; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)`,
    );
  }
  const apiVersion = Object.hasOwn(members, 'apiVersion') ? members.apiVersion : doc.version;
  if (checkApiVersion(apiVersion, '') !== doc.version) throw new DecodeError(400, 'apiVersion changes after the items');
}
