/**
 * What the API server posts, turned into audit.k8s.io/v1 Events. Pure: bytes in, events out, or a
 * DecodeError that carries the HTTP status and the one-line reason the sender and the log are given.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { eventAtLevel, membersAtLevel } from '../audit/level.js';
import {
  AUDIT_V1,
  AUDIT_V1BETA1,
  type AuditEvent,
  checkApiVersion,
  decodeBody,
  eventJson,
  toV1,
} from '../audit/eventShape.js';
import { isLevel, isObject, isStage, type Level, type Stage } from '../audit/model.js';
import { type CheckedItem, checkEventList, type RawMember, rawLine } from './raw.js';

// The event-shape check lives with the audit model, where `policy test` calls it too.
// The stored line (eventJson) is the audit model's too: file readers make the same lines.
export {
  AUDIT_V1,
  AUDIT_V1BETA1,
  type AuditEvent,
  DecodeError,
  decodeBody,
  eventJson,
  LINE_PREFIX,
  nestingOver,
} from '../audit/eventShape.js';

/** application/json, with or without parameters (the API server sends no charset; curl may). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** A pair of surrogate escapes, a lone one, or an escaped backslash, which is skipped whole so the `u` after it is text. */
const SURROGATE_ESCAPES =
  /\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}/g;
const ANY_SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * JSON text with \ufffd for every lone surrogate escape (a \ud800 with no low surrogate escape
 * right after it, a \udc00 with no high one right before it). It names no character, and a line
 * that keeps it is one strict readers refuse (jq stops there); U+FFFD is what the receiver stores
 * for bytes that are not UTF-8, and what Go's encoding/json, the API server's, decodes it to.
 * Lengths are kept, so JSON.parse's refusals point where they did.
 */
function replaceLoneSurrogates(text: string): string {
  if (!ANY_SURROGATE_ESCAPE.test(text)) return text;
  return text.replace(SURROGATE_ESCAPES, (m) => (m.length === 6 ? '\\ufffd' : m));
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
  return {
    items: list.items,
    version: checkApiVersion(envelope.apiVersion, 'body'),
    encoding: isAscii(buf) ? 'latin1' : 'utf8',
  };
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
  if (!it.compact || it.repeated || !it.auditID || it.auditID.escaped || it.auditID.end - it.auditID.start <= 2)
    return null;
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
  const head: EventHead = {
    auditID: buf.toString('utf8', it.auditID.start + 1, it.auditID.end - 1),
    stage,
    level: level as Level,
  };
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
  if (!body) return parsedBatch(decodeBody(replaceLoneSurrogates(buf.toString('utf8'))));
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
