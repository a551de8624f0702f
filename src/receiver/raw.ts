/**
 * Byte spans of the items of an EventList body, so an event is stored as the API server sent it
 * (cut where a sink's level drops a field) instead of re-serialized: JSON.stringify of every event
 * once per sink cost the receiver three times what JSON.parse of the batch did.
 *
 * The scanner (checkEventList) validates every byte, so an item it accepts needs no JSON.parse to
 * be trusted. An item is used raw only when it is compact (no whitespace outside strings, so it
 * is one line) and its keys are plain; anything else is re-serialized, which is always correct.
 */
import { MAX_NESTING } from '../audit/eventShape.js';

// Char codes, local on purpose: the scan loop reads them for every byte, and imported from one
// shared module they made checkEventList ~30% slower (V8 inlines a module's own consts).
const Q = 0x22;
const BS = 0x5c;
const LB = 0x7b;
const RB = 0x7d;
const LS = 0x5b;
const RS = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const ITEMS = [...'items'].map((c) => c.charCodeAt(0));

/** The members the receiver may drop or replace; any other member is copied as it is. */
export const RAW_KEYS = [
  'kind',
  'apiVersion',
  'level',
  'timestamp',
  'metadata',
  'requestObject',
  'responseObject',
] as const;
export type RawKey = (typeof RAW_KEYS)[number];

/** What a stored line is made from: the level it gets, and which members it keeps (undefined: dropped). */
export type LineMembers = { readonly [K in RawKey]?: unknown };

export interface RawMember {
  key: RawKey;
  /** Offset of the key's opening quote. */
  start: number;
  /** Offset just past the value. */
  end: number;
}

export interface RawItem {
  /** Offset of the item's `{`. */
  start: number;
  /** Offset just past its `}`. */
  end: number;
  /** Usable as a line: no whitespace outside strings, no escaped or repeated key of interest. */
  compact: boolean;
  members: RawMember[];
}

function isWs(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function keyOf(b: Uint8Array, start: number, end: number): RawKey | null {
  // start/end include the quotes.
  const len = end - start - 2;
  for (const k of RAW_KEYS) {
    if (k.length !== len) continue;
    let same = true;
    for (let x = 0; x < len; x++) {
      if (b[start + 1 + x] !== k.charCodeAt(x)) {
        same = false;
        break;
      }
    }
    if (same) return k;
  }
  return null;
}

const PREFIX = Buffer.from('{"kind":"Event","apiVersion":"audit.k8s.io/v1"');
const PREFIX_COMMA = Buffer.from('{"kind":"Event","apiVersion":"audit.k8s.io/v1",');
const COMMA_BUF = Buffer.from(',');
const NL = Buffer.from('\n');
const END = Buffer.from('}\n');
const LEVEL_MEMBERS = new Map<string, Buffer>();

/** `,"level":"<level>"`, made once per level. */
function levelMember(level: string): Buffer {
  let m = LEVEL_MEMBERS.get(level);
  if (!m) {
    m = Buffer.from(`,"level":${JSON.stringify(level)}`);
    LEVEL_MEMBERS.set(level, m);
  }
  return m;
}

/**
 * The stored line (newline included) for `out`, an event derived from the raw item's event by
 * dropping members and lowering the level, as byte pieces of the body. kind and apiVersion are
 * written first as the API server's log backend does, whatever the item had. `out` is read only
 * for `level` and for which of the item's members it still has.
 *
 * Runs of kept members are cut with the body's own commas so an unchanged item is three pieces
 * (prefix, its bytes, newline): every piece is an iovec of the write, and their number was what
 * the write cost.
 */
export function rawLine(b: Buffer, item: RawItem, out: LineMembers, sourceLevel: unknown, pieces: Buffer[]): void {
  // Whether the prefix is out; after it, every piece starts with a comma.
  let started = false;
  // Start of the bytes not yet emitted: just past `{`, or at the comma after a dropped member.
  let pos = item.start + 1;
  for (const m of item.members) {
    let replace: Buffer | null = null;
    if (m.key === 'level') {
      if (out.level === sourceLevel) continue;
      replace = levelMember(String(out.level));
    } else if (m.key !== 'kind' && m.key !== 'apiVersion' && out[m.key] !== undefined) {
      continue;
    }
    // The kept run before the member, without the comma that separated it from the member.
    let runEnd = m.start;
    if (b[runEnd - 1] === COMMA) runEnd--;
    if (runEnd > pos) {
      if (b[pos] === COMMA) {
        if (!started) pieces.push(PREFIX);
        pieces.push(b.subarray(pos, runEnd));
      } else {
        pieces.push(started ? COMMA_BUF : PREFIX_COMMA, b.subarray(pos, runEnd));
      }
      started = true;
    }
    if (replace) {
      if (!started) pieces.push(PREFIX);
      pieces.push(replace);
      started = true;
    }
    pos = m.end;
  }
  // The rest, through the item's `}`.
  if (item.end - 1 > pos) {
    if (b[pos] === COMMA) {
      if (!started) pieces.push(PREFIX);
      pieces.push(b.subarray(pos, item.end), NL);
    } else {
      pieces.push(started ? COMMA_BUF : PREFIX_COMMA, b.subarray(pos, item.end), NL);
    }
  } else {
    if (!started) pieces.push(PREFIX);
    pieces.push(END);
  }
}

// ---- the scanner: an EventList's items without JSON.parse ----

const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const D0 = 0x30;
const D9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const AUDIT_ID = [...'auditID'].map((c) => c.charCodeAt(0));
const STAGE = [...'stage'].map((c) => c.charCodeAt(0));
const LITERALS = new Map<number, number[]>(
  ['true', 'false', 'null'].map((w) => [w.charCodeAt(0), [...w].map((c) => c.charCodeAt(0))]),
);
/** What may follow a backslash in a JSON string (u is checked apart). */
const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));

/** A string member's value: offsets of its quotes, and whether it has an escape. */
export interface RawString {
  start: number;
  end: number;
  escaped: boolean;
}

/** An item the validating scanner read: its spans, plus the members the receiver routes by. */
export interface CheckedItem extends RawItem {
  auditID: RawString | null;
  stage: RawString | null;
  /** Another key than the RAW_KEYS ones the receiver reads (auditID, stage) came twice: parse to know which wins. */
  repeated: boolean;
}

/** Lengths of the RAW_KEYS: a key of another length is none of them. */
const KEY_LENGTHS = new Set<number>(RAW_KEYS.map((k) => k.length));

function sameBytes(b: Uint8Array, at: number, want: readonly number[]): boolean {
  for (let x = 0; x < want.length; x++) if (b[at + x] !== want[x]) return false;
  return true;
}

class Invalid extends Error {}
const INVALID = new Invalid('invalid');

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= D0 && c <= D9;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= D0 && c <= D9) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));
}

/** The UTF-16 unit of the four hex digits at `at` (checked by isHex). */
function unitAt(b: Uint8Array, at: number): number {
  let u = 0;
  for (let x = at; x < at + 4; x++) {
    const c = b[x]!;
    u = (u << 4) | (c <= D9 ? c - D0 : (c | 0x20) - 0x57);
  }
  return u;
}

/**
 * A strict JSON grammar over bytes: every byte is checked, so what it accepts JSON.parse accepts
 * too (UTF-8 validity is checked apart, once per body). Anything it does not like throws INVALID
 * and the caller falls back to JSON.parse, which gives the real error.
 */
class Checker {
  i = 0;
  ws = false;
  constructor(readonly b: Uint8Array) {}

  skipWs(): void {
    const b = this.b;
    while (isWs(b[this.i])) {
      this.ws = true;
      this.i++;
    }
  }

  /** At an opening quote: moves past the closing one; returns whether the string had an escape. */
  string(): boolean {
    const b = this.b;
    const n = b.length;
    let j = this.i + 1;
    let escaped = false;
    while (j < n) {
      const c = b[j]!;
      // Most bytes of a body are plain string bytes: one test for them.
      if (c > BS || (c >= 0x20 && c !== Q && c !== BS)) {
        j++;
        continue;
      }
      if (c === Q) {
        this.i = j + 1;
        return escaped;
      }
      // Raw control characters are not allowed in a JSON string.
      if (c !== BS) throw INVALID;
      escaped = true;
      const e = b[j + 1];
      if (e === 0x75) {
        if (!(isHex(b[j + 2]) && isHex(b[j + 3]) && isHex(b[j + 4]) && isHex(b[j + 5]))) throw INVALID;
        j += (b[j + 2]! | 0x20) === 0x64 ? this.surrogates(j) : 6;
      } else if (e !== undefined && ESCAPES.has(e)) {
        j += 2;
      } else {
        throw INVALID;
      }
    }
    throw INVALID;
  }

  /**
   * At a \uDxxx escape: the bytes it takes with the low surrogate escape that pairs it (12), or
   * alone when it is no surrogate (6). A lone surrogate names no character, and stored as sent it
   * makes a line strict readers refuse (jq stops there): it throws INVALID, so the body takes the
   * plain path, which stores U+FFFD in its place (decode.ts).
   */
  surrogates(j: number): number {
    const b = this.b;
    const unit = unitAt(b, j + 2);
    if (unit < 0xd800) return 6;
    if (unit >= 0xdc00 || b[j + 6] !== BS || b[j + 7] !== 0x75) throw INVALID;
    if (!(isHex(b[j + 8]) && isHex(b[j + 9]) && isHex(b[j + 10]) && isHex(b[j + 11]))) throw INVALID;
    const low = unitAt(b, j + 8);
    if (low < 0xdc00 || low > 0xdfff) throw INVALID;
    return 12;
  }

  number(): void {
    const b = this.b;
    let j = this.i;
    if (b[j] === MINUS) j++;
    if (b[j] === D0) j++;
    else if (isDigit(b[j])) while (isDigit(b[j])) j++;
    else throw INVALID;
    if (b[j] === DOT) {
      j++;
      if (!isDigit(b[j])) throw INVALID;
      while (isDigit(b[j])) j++;
    }
    if (b[j] === LOWER_E || b[j] === UPPER_E) {
      j++;
      if (b[j] === PLUS || b[j] === MINUS) j++;
      if (!isDigit(b[j])) throw INVALID;
      while (isDigit(b[j])) j++;
    }
    this.i = j;
  }

  value(depth: number): void {
    const b = this.b;
    const c = b[this.i];
    if (c === Q) {
      this.string();
    } else if (c === LB) {
      this.object(depth + 1);
    } else if (c === LS) {
      this.array(depth + 1);
    } else if (c === MINUS || isDigit(c)) {
      this.number();
    } else {
      const word = c === undefined ? undefined : LITERALS.get(c);
      if (!word) throw INVALID;
      for (let x = 0; x < word.length; x++) if (b[this.i + x] !== word[x]) throw INVALID;
      this.i += word.length;
    }
  }

  object(depth: number): void {
    if (depth > MAX_NESTING) throw INVALID;
    const b = this.b;
    this.i++;
    this.skipWs();
    if (b[this.i] === RB) {
      this.i++;
      return;
    }
    for (;;) {
      if (b[this.i] !== Q) throw INVALID;
      this.string();
      this.skipWs();
      if (b[this.i] !== COLON) throw INVALID;
      this.i++;
      this.skipWs();
      this.value(depth);
      this.skipWs();
      const c = b[this.i];
      this.i++;
      if (c === RB) return;
      if (c !== COMMA) throw INVALID;
      this.skipWs();
    }
  }

  array(depth: number): void {
    if (depth > MAX_NESTING) throw INVALID;
    const b = this.b;
    this.i++;
    this.skipWs();
    if (b[this.i] === RS) {
      this.i++;
      return;
    }
    for (;;) {
      this.value(depth);
      this.skipWs();
      const c = b[this.i];
      this.i++;
      if (c === RS) return;
      if (c !== COMMA) throw INVALID;
      this.skipWs();
    }
  }

  /** At an item's `{`: like object(), noting the members the receiver reads or cuts. */
  item(): CheckedItem {
    const b = this.b;
    const start = this.i;
    this.ws = false;
    let compact = true;
    let repeated = false;
    const members: RawMember[] = [];
    let auditID: RawString | null = null;
    let stage: RawString | null = null;
    this.i++;
    this.skipWs();
    if (b[this.i] === RB) {
      this.i++;
      return { start, end: this.i, compact: !this.ws, members, auditID, stage, repeated };
    }
    for (;;) {
      if (b[this.i] !== Q) throw INVALID;
      const ks = this.i;
      if (this.string()) compact = false;
      const ke = this.i;
      // Most keys are none of these: their length alone says so.
      const len = ke - ks - 2;
      const key = KEY_LENGTHS.has(len) ? keyOf(b, ks, ke) : null;
      const isId = key === null && len === 7 && sameBytes(b, ks + 1, AUDIT_ID);
      const isStage = key === null && len === 5 && sameBytes(b, ks + 1, STAGE);
      this.skipWs();
      if (b[this.i] !== COLON) throw INVALID;
      this.i++;
      this.skipWs();
      const vs = this.i;
      let escaped = false;
      if (b[vs] === Q) escaped = this.string();
      else this.value(1);
      if (key !== null) {
        for (const m of members) if (m.key === key) compact = false;
        members.push({ key, start: ks, end: this.i });
      } else if (isId || isStage) {
        const s = b[vs] === Q ? { start: vs, end: this.i, escaped } : { start: -1, end: -1, escaped: true };
        if (isId) {
          if (auditID) repeated = true;
          auditID = s;
        } else {
          if (stage) repeated = true;
          stage = s;
        }
      }
      this.skipWs();
      const c = b[this.i];
      this.i++;
      if (c === RB) break;
      if (c !== COMMA) throw INVALID;
      this.skipWs();
    }
    return { start, end: this.i, compact: compact && !this.ws, members, auditID, stage, repeated };
  }
}

export interface CheckedList {
  items: CheckedItem[];
  arrayStart: number;
  arrayEnd: number;
}

/**
 * The items of a body that is one object with an "items" array of objects, in order, every item
 * checked to be valid JSON so the caller may skip parsing it (the envelope outside the items is
 * left to the caller). Null for any other shape (a single Event, an array), a repeated "items"
 * key, or anything it does not accept; the caller then parses the body whole.
 */
export function checkEventList(b: Uint8Array): CheckedList | null {
  try {
    const s = new Checker(b);
    s.skipWs();
    if (b[s.i] !== LB) return null;
    s.i++;
    let list: CheckedList | null = null;
    s.skipWs();
    if (b[s.i] === RB) return null;
    for (;;) {
      if (b[s.i] !== Q) return null;
      const ks = s.i;
      s.string();
      const isItems = s.i - ks === 7 && ITEMS.every((c, x) => b[ks + 1 + x] === c);
      s.skipWs();
      if (b[s.i] !== COLON) return null;
      s.i++;
      s.skipWs();
      if (isItems) {
        if (list !== null || b[s.i] !== LS) return null;
        const arrayStart = s.i;
        const items: CheckedItem[] = [];
        s.i++;
        s.skipWs();
        if (b[s.i] !== RS) {
          for (;;) {
            if (b[s.i] !== LB) return null;
            items.push(s.item());
            s.skipWs();
            if (b[s.i] === RS) break;
            if (b[s.i] !== COMMA) return null;
            s.i++;
            s.skipWs();
          }
        }
        s.i++;
        list = { items, arrayStart, arrayEnd: s.i };
      } else {
        s.value(1);
      }
      s.skipWs();
      const c = b[s.i];
      s.i++;
      if (c === RB) break;
      if (c !== COMMA) return null;
      s.skipWs();
    }
    return list;
  } catch (err) {
    if (err instanceof Invalid || err instanceof RangeError) return null;
    throw err;
  }
}
