/**
 * What an audit event is, as the receiver decides it: an audit.k8s.io/v1 or v1beta1 Event (alone,
 * in an EventList, or in a JSON array) with an auditID, a stage and a level. One check, called by
 * the receiver for every body it is posted (src/receiver/decode.ts) and for every line read back
 * (streams/logDecode.ts: `tail`, `top` and `policy`, from a lab's streams or --file), so all
 * refuse the same input with the same reason.
 */
import { isLevel, isObject, isStage, type Level, type Stage } from './model.js';

/**
 * How deep an input's objects and arrays may nest. The API server's events are a few levels deep
 * (an object's fields rarely go past 20); past this, serializing or walking an event would
 * recurse deep enough to overflow the stack, so such input is refused rather than failing later
 * (the receiver's scanner, receiver/raw.ts, holds its bodies to the same limit).
 */
export const MAX_NESTING = 512;

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

/** Input that is not audit events: `status` is the HTTP status the receiver answers (400: the sender's fault), the message the one-line reason. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

/** A refusal of `where` (empty: the input itself, as `policy test` names it by its line). */
const refuse = (where: string, why: string) => new DecodeError(400, where === '' ? why : `${where}: ${why}`);

export function checkApiVersion(v: unknown, where: string): string {
  if (v === AUDIT_V1 || v === AUDIT_V1BETA1) return v;
  if (v === undefined) throw refuse(where, `no apiVersion (want ${AUDIT_V1} or ${AUDIT_V1BETA1})`);
  throw refuse(where, `unsupported apiVersion ${JSON.stringify(v)} (want ${AUDIT_V1} or ${AUDIT_V1BETA1})`);
}

/**
 * One item as a v1 Event. v1beta1's deprecated `timestamp` and `metadata` have no v1 field and are
 * dropped; the object is otherwise kept as parsed (copying every event cost as much as parsing it).
 */
export function toV1(item: unknown, listVersion: string | undefined, where: string): AuditEvent {
  if (!isObject(item)) throw refuse(where, 'not a JSON object');
  if (item.kind !== undefined && item.kind !== 'Event')
    throw refuse(where, `kind ${JSON.stringify(item.kind)} is not Event`);
  const version =
    item.apiVersion === undefined && listVersion !== undefined ? listVersion : checkApiVersion(item.apiVersion, where);
  if (typeof item.auditID !== 'string' || item.auditID === '') throw refuse(where, 'no auditID');
  if (typeof item.stage !== 'string' || !isStage(item.stage))
    throw refuse(where, `stage ${JSON.stringify(item.stage)} is not an audit stage`);
  if (typeof item.level !== 'string' || !isLevel(item.level))
    throw refuse(where, `level ${JSON.stringify(item.level)} is not an audit level`);
  if (version === AUDIT_V1BETA1) {
    delete item.timestamp;
    delete item.metadata;
  }
  return item as AuditEvent;
}

/** Refused items of a list, one by one, when a reader keeps the rest (decodeBody's `badItem`); undefined refuses the whole body. */
type BadItem = ((err: DecodeError) => void) | undefined;

/** `make()`, or when it refuses and `badItem` takes refusals, nothing (the refusal handed to it). */
function item(badItem: BadItem, make: () => void): void {
  if (badItem === undefined) {
    make();
    return;
  }
  try {
    make();
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    badItem(err);
  }
}

function fromObject(o: Obj, where: string, out: AuditEvent[], badItem?: BadItem): void {
  if (o.kind === 'EventList') {
    const version = checkApiVersion(o.apiVersion, where);
    if (!Array.isArray(o.items)) {
      if (o.items === undefined || o.items === null) return; // an empty list serialized by Go
      throw refuse(where, 'items is not a list');
    }
    const items = o.items as unknown[];
    for (let i = 0; i < items.length; i++)
      item(badItem, () =>
        out.push(toV1(items[i], version, `${where === 'body' || where === '' ? '' : `${where}.`}items[${i}]`)),
      );
    return;
  }
  if (o.kind === 'Event') {
    checkApiVersion(o.apiVersion, where);
    out.push(toV1(o, undefined, where));
    return;
  }
  const got = o.kind === undefined ? 'no kind' : `kind ${JSON.stringify(o.kind)}`;
  throw refuse(where, `${got}; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)`);
}

/**
 * Offset in `text` where its objects and arrays nest deeper than `limit`, or -1. JSON.parse takes
 * any depth, but what then walks or serializes the events recurses, and a body 5,000 levels deep
 * overflowed the stack there: that is the sender's fault and must be refused as such (400), not
 * answered 500, which makes the API server retry it.
 */
export function nestingOver(text: string, limit = MAX_NESTING): number {
  // Nesting deeper than `limit` needs more than `limit` brackets; counting them with indexOf is a
  // tenth of the cost of the walk below, which an ordinary event (a dozen brackets) then skips.
  if (bracketsAtMost(text, limit)) return -1;
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

/** Whether `text` holds at most `limit` opening brackets (inside strings or not). */
function bracketsAtMost(text: string, limit: number): boolean {
  let n = 0;
  for (const open of ['{', '[']) {
    for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) if (++n > limit) return false;
  }
  return true;
}

/**
 * An EventList (v1 or v1beta1), a single Event, or a JSON array of either, as v1 Events: the
 * receiver's one verdict on what is an event (its fast path is held to this), which `policy test`
 * also gives each line of a file. `root` names the whole input in refusals ('' for none). With
 * `badItem`, an item of a list (or array) that is not an event is handed to it and the others are
 * kept, as a reader of a long document wants; the receiver refuses the whole body.
 */
export function decodeBody(text: string, root = 'body', badItem?: BadItem): AuditEvent[] {
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
      item(badItem, () => {
        if (!isObject(el)) throw new DecodeError(400, `[${i}]: not a JSON object`);
        fromObject(el, `[${i}]`, events, badItem);
      });
    }
    return events;
  }
  if (isObject(body)) {
    fromObject(body, root, events, badItem);
    return events;
  }
  throw new DecodeError(
    400,
    `${root === '' ? '' : `${root} is `}JSON ${body === null ? 'null' : typeof body}; want an EventList or an Event`,
  );
}

/**
 * Item `index` of an EventList whose envelope (kind, `listVersion`) was read apart from its items,
 * as decodeBody would decode it inside the list: the same nesting limit (the list and its items
 * array hold two levels), JSON and event checks, and reasons (`items[3]: no auditID`). For readers
 * that stream a list too large to hold whole (streams/jsonDocument.ts).
 */
export function decodeListItem(text: string, listVersion: string, index: number): AuditEvent {
  const where = `items[${index}]`;
  return toV1(parsePart(text, where, 2, 'item'), listVersion, where);
}

/**
 * JSON text read apart from the `levels` of nesting around it (a list and its items array: 2; an
 * array: 1), parsed with the whole document's nesting limit and decodeBody's reasons.
 */
function parsePart(text: string, where: string, levels: number, what: string): unknown {
  const deep = nestingOver(text, MAX_NESTING - levels);
  if (deep >= 0)
    throw refuse(where, `JSON nested deeper than ${MAX_NESTING} levels (at character ${deep} of the ${what})`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw refuse(where, `malformed JSON: ${(err as Error).message}`);
  }
}

/**
 * Element `index` of a JSON array read apart from the array, as decodeBody would decode it inside
 * the array: an Event or an EventList, the same nesting limit (the array holds one level), checks
 * and reasons (`[3]: no auditID`, `[3].items[1]: ...`). For readers that stream an array too large
 * to hold whole (streams/jsonDocument.ts).
 */
export function decodeArrayElement(text: string, index: number, badItem?: BadItem): AuditEvent[] {
  const where = `[${index}]`;
  const el = parsePart(text, where, 1, 'element');
  if (!isObject(el)) throw refuse(where, 'not a JSON object');
  const events: AuditEvent[] = [];
  fromObject(el, where, events, badItem);
  return events;
}

/** How every stored line begins, exactly as the API server's log backend writes an Event. */
export const LINE_PREFIX = '{"kind":"Event","apiVersion":"audit.k8s.io/v1"';

/** An event as one line of the log format (v1 kind and apiVersion first), without the newline. */
export function eventJson(ev: AuditEvent): string {
  let rest: Record<string, unknown> = ev;
  if (Object.hasOwn(ev, 'kind') || Object.hasOwn(ev, 'apiVersion')) {
    const { kind: _kind, apiVersion: _apiVersion, ...others } = ev;
    rest = others;
  }
  const json = JSON.stringify(rest);
  return json === '{}' ? `${LINE_PREFIX}}` : `${LINE_PREFIX},${json.slice(1)}`;
}
