/**
 * What the API server posts, turned into audit.k8s.io/v1 Events. Pure: bytes in, events out, or a
 * DecodeError that carries the HTTP status and the one-line reason the sender and the log are given.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { eventAtLevel, membersAtLevel } from '../audit/level.js';
import { isLevel, isObject, isStage, type Level, type Stage } from '../audit/model.js';
import { type CheckedItem, checkEventList, MAX_NESTING, type RawMember, rawLine } from './raw.js';

export const AUDIT_V1 = 'audit.k8s.io/v1';
export const AUDIT_V1BETA1 = 'audit.k8s.io/v1beta1';

/**
 * An Event as decoded: v1 content with the fields the receiver relies on checked. kind and
 * apiVersion may be missing (EventList items) or v1beta1's: the stored line always gets v1's.
 */
export interface AuditEvent {
  kind?: unknown;
  apiVersion?: unknown;
  level: Level;
  auditID: string;
  stage: Stage;
  requestObject?: unknown;
  responseObject?: unknown;
  [field: string]: unknown;
}

/** How every stored line begins, exactly as the API server's log backend writes an Event. */
export const LINE_PREFIX = '{"kind":"Event","apiVersion":"audit.k8s.io/v1"';

/** The stored line for an event, without the newline. */
export function eventJson(ev: AuditEvent): string {
  let rest: Record<string, unknown> = ev;
  if (Object.hasOwn(ev, 'kind') || Object.hasOwn(ev, 'apiVersion')) {
    const { kind: _kind, apiVersion: _apiVersion, ...others } = ev;
    rest = others;
  }
  const json = JSON.stringify(rest);
  return json === '{}' ? `${LINE_PREFIX}}` : `${LINE_PREFIX},${json.slice(1)}`;
}

export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** application/json, with or without parameters (the API server sends no charset; curl may). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}

type Obj = Record<string, unknown>;

function checkApiVersion(v: unknown, where: string): string {
  if (v === AUDIT_V1 || v === AUDIT_V1BETA1) return v;
  if (v === undefined) throw new DecodeError(400, `${where}: no apiVersion (want ${AUDIT_V1} or ${AUDIT_V1BETA1})`);
  throw new DecodeError(400, `${where}: unsupported apiVersion ${JSON.stringify(v)} (want ${AUDIT_V1} or ${AUDIT_V1BETA1})`);
}

/**
 * One item as a v1 Event. v1beta1's deprecated `timestamp` and `metadata` have no v1 field and are
 * dropped; the object is otherwise kept as parsed (copying every event cost as much as parsing it).
 */
function toV1(item: unknown, listVersion: string | undefined, where: string): AuditEvent {
  if (!isObject(item)) throw new DecodeError(400, `${where}: not a JSON object`);
  if (item.kind !== undefined && item.kind !== 'Event') throw new DecodeError(400, `${where}: kind ${JSON.stringify(item.kind)} is not Event`);
  const version = item.apiVersion === undefined && listVersion !== undefined ? listVersion : checkApiVersion(item.apiVersion, where);
  if (typeof item.auditID !== 'string' || item.auditID === '') throw new DecodeError(400, `${where}: no auditID`);
  if (typeof item.stage !== 'string' || !isStage(item.stage)) throw new DecodeError(400, `${where}: stage ${JSON.stringify(item.stage)} is not an audit stage`);
  if (typeof item.level !== 'string' || !isLevel(item.level)) throw new DecodeError(400, `${where}: level ${JSON.stringify(item.level)} is not an audit level`);
  if (version === AUDIT_V1BETA1) {
    delete item.timestamp;
    delete item.metadata;
  }
  return item as AuditEvent;
}

function fromObject(o: Obj, where: string, out: AuditEvent[]): void {
  if (o.kind === 'EventList') {
    const version = checkApiVersion(o.apiVersion, where);
    if (!Array.isArray(o.items)) {
      if (o.items === undefined || o.items === null) return; // an empty list serialized by Go
      throw new DecodeError(400, `${where}: items is not a list`);
    }
    const items = o.items as unknown[];
    for (let i = 0; i < items.length; i++) out.push(toV1(items[i], version, `${where === 'body' ? '' : `${where}.`}items[${i}]`));
    return;
  }
  if (o.kind === 'Event') {
    checkApiVersion(o.apiVersion, where);
    out.push(toV1(o, undefined, where));
    return;
  }
  const got = o.kind === undefined ? 'no kind' : `kind ${JSON.stringify(o.kind)}`;
  throw new DecodeError(400, `${where}: ${got}; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)`);
}

/**
 * Offset in `text` where its objects and arrays nest deeper than `limit`, or -1. JSON.parse takes
 * any depth, but what then walks or serializes the events recurses, and a body 5,000 levels deep
 * overflowed the stack there: that is the sender's fault and must be refused as such (400), not
 * answered 500, which makes the API server retry it.
 */
export function nestingOver(text: string, limit = MAX_NESTING): number {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string; a backslash escapes the next character, whatever it is.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return i;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return -1;
}

/** An EventList (v1 or v1beta1), a single Event, or a JSON array of either, as v1 Events. */
export function decodeBody(text: string): AuditEvent[] {
  const deep = nestingOver(text);
  if (deep >= 0) throw new DecodeError(400, `JSON nested deeper than ${MAX_NESTING} levels (at character ${deep})`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new DecodeError(400, `malformed JSON: ${(err as Error).message}`);
  }
  const events: AuditEvent[] = [];
  if (Array.isArray(body)) {
    for (let i = 0; i < body.length; i++) {
      const el: unknown = body[i];
      if (!isObject(el)) throw new DecodeError(400, `[${i}]: not a JSON object`);
      fromObject(el, `[${i}]`, events);
    }
    return events;
  }
  if (isObject(body)) {
    fromObject(body, 'body', events);
    return events;
  }
  throw new DecodeError(400, `body is JSON ${body === null ? 'null' : typeof body}; want an EventList or an Event`);
}

/** An EventList body whose items the scanner accepted, with what parsing one of them needs. */
interface ListBody {
  items: CheckedItem[];
  version: string;
  encoding: 'latin1' | 'utf8';
}

/**
 * The body as one EventList, its items found and validated by the scanner and its envelope
 * (everything but the items) parsed; null for any other shape or any doubt.
 */
function eventListBody(buf: Buffer): ListBody | null {
  const list = isUtf8(buf) ? checkEventList(buf) : null;
  if (!list) return null;
  let envelope: unknown;
  try {
    envelope = JSON.parse(`${buf.toString('utf8', 0, list.arrayStart)}[]${buf.toString('utf8', list.arrayEnd)}`);
  } catch {
    return null;
  }
  if (!isObject(envelope) || envelope.kind !== 'EventList') return null;
  // An ASCII item decodes the same as latin1, which V8 takes as a plain copy.
  return { items: list.items, version: checkApiVersion(envelope.apiVersion, 'body'), encoding: isAscii(buf) ? 'latin1' : 'utf8' };
}

/** Item i of a scanned EventList, parsed (the scanner has validated it) and made v1. */
function parseItem(buf: Buffer, body: ListBody, i: number): AuditEvent {
  const it = body.items[i]!;
  return toV1(JSON.parse(buf.toString(body.encoding, it.start, it.end)), body.version, `items[${i}]`);
}

/**
 * What routing, dedupe and a raw line need of an event. A full AuditEvent is one; a head made from
 * the raw bytes holds `true` for each of the last four members the event has (only their presence
 * is read) and must never be stored or forwarded as an event: use DecodedBatch.event for that.
 */
export interface EventHead {
  auditID: string;
  stage: Stage;
  level: Level;
  requestObject?: unknown;
  responseObject?: unknown;
  timestamp?: unknown;
  metadata?: unknown;
}

/**
 * A batch as the receiver uses it. The fast path (the default) and the plain one give the same
 * heads, events, lines and refusals; the plain one is simple enough to be trusted, and the
 * receiver's differential test holds the fast one to it.
 */
export interface DecodedBatch {
  heads: readonly EventHead[];
  /** Event i in full: parsed from its bytes on first use. */
  event(i: number): AuditEvent;
  /**
   * Event i's stored line, newline included, as pieces of one write: as received (level null), or
   * as a sink of `level` gets it (eventAtLevel with keepLowerLevel). The caller checks the stage.
   */
  line(i: number, level: Level | null): Buffer[];
}

export interface DecodeOptions {
  /**
   * false: parse the whole body and serialize every line (JSON.parse, eventAtLevel,
   * JSON.stringify), the plain path the fast one is tested against. Default true.
   */
  fast?: boolean;
}

/** The line a parsed event makes, as a sink of `level` gets it (null: as received). */
function parsedLine(ev: AuditEvent, level: Level | null): Buffer[] {
  return [Buffer.from(`${eventJson(level === null ? ev : eventAtLevel(ev, level, { keepLowerLevel: true }))}\n`)];
}

function parsedBatch(events: AuditEvent[]): DecodedBatch {
  return { heads: events, event: (i) => events[i]!, line: (i, level) => parsedLine(events[i]!, level) };
}

const Q_EVENT = '"Event"';
const Q_V1 = `"${AUDIT_V1}"`;
const Q_V1BETA1 = `"${AUDIT_V1BETA1}"`;

/** A compact member's value as latin1 text (the key's quotes and the colon skipped). */
function memberValue(buf: Buffer, m: RawMember): string {
  return buf.toString('latin1', m.start + m.key.length + 3, m.end);
}

/** The head of a checked, compact item, or null when it needs a real parse to be judged. */
function headOf(buf: Buffer, it: CheckedItem, listVersion: string): EventHead | null {
  if (!it.compact || it.repeated || !it.auditID || it.auditID.escaped || it.auditID.end - it.auditID.start <= 2) return null;
  if (!it.stage || it.stage.escaped) return null;
  const stage = buf.toString('latin1', it.stage.start + 1, it.stage.end - 1);
  if (!isStage(stage)) return null;
  let level: string | undefined;
  let version = listVersion;
  let requestObject: true | undefined;
  let responseObject: true | undefined;
  let timestamp: true | undefined;
  let metadata: true | undefined;
  for (const m of it.members) {
    switch (m.key) {
      case 'kind':
        if (memberValue(buf, m) !== Q_EVENT) return null;
        break;
      case 'apiVersion': {
        const v = memberValue(buf, m);
        if (v === Q_V1) version = AUDIT_V1;
        else if (v === Q_V1BETA1) version = AUDIT_V1BETA1;
        else return null;
        break;
      }
      case 'level': {
        const v = memberValue(buf, m);
        level = v.slice(1, -1);
        if (v.charCodeAt(0) !== 0x22 || !isLevel(level)) return null;
        break;
      }
      case 'requestObject':
        requestObject = true;
        break;
      case 'responseObject':
        responseObject = true;
        break;
      case 'timestamp':
        timestamp = true;
        break;
      case 'metadata':
        metadata = true;
        break;
    }
  }
  if (level === undefined) return null;
  const head: EventHead = { auditID: buf.toString('utf8', it.auditID.start + 1, it.auditID.end - 1), stage, level: level as Level };
  if (requestObject) head.requestObject = true;
  if (responseObject) head.responseObject = true;
  // v1beta1's deprecated members are dropped, as toV1 does.
  if (version === AUDIT_V1) {
    if (timestamp) head.timestamp = true;
    if (metadata) head.metadata = true;
  }
  return head;
}

/**
 * A body as received, for the receiver. On the fast path an EventList whose items a strict scanner
 * accepts as valid JSON is not parsed at all: routing and the stored lines need only a few members
 * and the items' bytes, and parsing every event was most of what the receiver spent. An event is
 * parsed when it is needed whole (a sink with a policy, forwarding, an item that must be
 * re-serialized). Anything the scanner does not accept is parsed whole by decodeBody, so the
 * refusals are the same.
 */
export function decodeBatch(buf: Buffer, opts: DecodeOptions = {}): DecodedBatch {
  const body = opts.fast === false ? null : eventListBody(buf);
  if (!body) return parsedBatch(decodeBody(buf.toString('utf8')));
  const n = body.items.length;
  const full = new Array<AuditEvent | undefined>(n);
  const parse = (i: number): AuditEvent => (full[i] = parseItem(buf, body, i));
  const heads = new Array<EventHead>(n);
  // Items the heads cannot judge are parsed now, so their refusal (a bad stage...) is the one decodeBody gives.
  for (let i = 0; i < n; i++) heads[i] = headOf(buf, body.items[i]!, body.version) ?? parse(i);
  const event = (i: number): AuditEvent => full[i] ?? parse(i);
  return {
    heads,
    event,
    line(i, level) {
      const item = body.items[i]!;
      // Items that are not one compact line are re-serialized.
      if (!item.compact) return parsedLine(event(i), level);
      const head = heads[i]!;
      const parts: Buffer[] = [];
      rawLine(buf, item, level === null ? head : membersAtLevel(head, level), head.level, parts);
      return parts;
    },
  };
}
