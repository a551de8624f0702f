/**
 * Byte spans of the items of an EventList body, so an event is stored as the API server sent it
 * (cut where a sink's level drops a field) instead of re-serialized: JSON.stringify of every event
 * once per sink cost the receiver three times what JSON.parse of the batch did.
 *
 * The body has already been through JSON.parse, so it is valid JSON; this scanner only finds
 * boundaries. An item is used raw only when it is compact (no whitespace outside strings, so it
 * is one line) and its keys are plain; anything else is re-serialized, which is always correct.
 */

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
export const RAW_KEYS = ['kind', 'apiVersion', 'level', 'timestamp', 'metadata', 'requestObject', 'responseObject'] as const;
export type RawKey = (typeof RAW_KEYS)[number];

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

class Scanner {
  i = 0;
  /** Whitespace seen outside strings since the last reset. */
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
    let j = this.i + 1;
    let escaped = false;
    for (;;) {
      const c = b[j];
      if (c === Q) break;
      if (c === undefined) throw new Error('unterminated string');
      if (c === BS) {
        escaped = true;
        j++;
      }
      j++;
    }
    this.i = j + 1;
    return escaped;
  }

  value(): void {
    const b = this.b;
    const c = b[this.i];
    if (c === Q) {
      this.string();
      return;
    }
    if (c === LB || c === LS) {
      let depth = 0;
      let j = this.i;
      for (;;) {
        const d = b[j];
        if (d === undefined) throw new Error('unterminated value');
        if (d === Q) {
          // Inlined string skip: this loop is where the bytes are.
          j++;
          for (;;) {
            const e = b[j];
            if (e === Q) break;
            if (e === undefined) throw new Error('unterminated string');
            j += e === BS ? 2 : 1;
          }
        } else if (d === LB || d === LS) {
          depth++;
        } else if (d === RB || d === RS) {
          if (--depth === 0) {
            this.i = j + 1;
            return;
          }
        } else if (isWs(d)) {
          this.ws = true;
        }
        j++;
      }
    }
    let j = this.i;
    for (;;) {
      const d = b[j];
      if (d === undefined || d === COMMA || d === RB || d === RS || isWs(d)) break;
      j++;
    }
    this.i = j;
  }
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

function scanItem(s: Scanner): RawItem {
  const b = s.b;
  const start = s.i;
  s.ws = false;
  let compact = true;
  const members: RawMember[] = [];
  s.i++;
  for (;;) {
    s.skipWs();
    if (b[s.i] === RB) break;
    const ks = s.i;
    if (s.string()) compact = false;
    const key = keyOf(b, ks, s.i);
    s.skipWs();
    s.i++; // ':'
    s.skipWs();
    s.value();
    if (key !== null) {
      if (members.some((m) => m.key === key)) compact = false;
      members.push({ key, start: ks, end: s.i });
    }
    s.skipWs();
    if (b[s.i] === COMMA) s.i++;
  }
  s.i++;
  return { start, end: s.i, compact: compact && !s.ws, members };
}

export interface RawList {
  items: RawItem[];
  /** Offsets of the items array's `[` and just past its `]`. */
  arrayStart: number;
  arrayEnd: number;
}

/**
 * The items of a body that is one object with an "items" array of objects, in order; null for any
 * other shape (a single Event, an array) or anything unexpected, in which case the caller parses
 * the body whole. Between items only whitespace and single commas are accepted; the items and the
 * rest of the body are left to JSON.parse to validate.
 */
export function scanEventList(b: Uint8Array): RawList | null {
  try {
    const s = new Scanner(b);
    s.skipWs();
    if (b[s.i] !== LB) return null;
    s.i++;
    let list: RawList | null = null;
    for (;;) {
      s.skipWs();
      if (b[s.i] === RB) break;
      if (b[s.i] !== Q) return null;
      const ks = s.i;
      s.string();
      const isItems = s.i - ks === 7 && ITEMS.every((c, x) => b[ks + 1 + x] === c);
      s.skipWs();
      if (b[s.i] !== COLON) return null;
      s.i++;
      s.skipWs();
      if (isItems) {
        // A repeated key: JSON.parse keeps the last one; do not guess.
        if (list !== null || b[s.i] !== LS) return null;
        const arrayStart = s.i;
        const items: RawItem[] = [];
        s.i++;
        s.skipWs();
        if (b[s.i] !== RS) {
          for (;;) {
            if (b[s.i] !== LB) return null;
            items.push(scanItem(s));
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
        s.value();
      }
      s.skipWs();
      if (b[s.i] === COMMA) s.i++;
    }
    return list;
  } catch {
    return null;
  }
}

/** The items of an EventList body (see scanEventList). */
export function scanEventListItems(b: Uint8Array): RawItem[] | null {
  return scanEventList(b)?.items ?? null;
}

const PREFIX = Buffer.from('{"kind":"Event","apiVersion":"audit.k8s.io/v1"');
const COMMA_BUF = Buffer.from(',');
const END = Buffer.from('}\n');
const LEVEL_MEMBERS = new Map<string, Buffer>();

function levelMember(level: string): Buffer {
  let m = LEVEL_MEMBERS.get(level);
  if (!m) {
    m = Buffer.from(`"level":${JSON.stringify(level)}`);
    LEVEL_MEMBERS.set(level, m);
  }
  return m;
}

/**
 * The stored line (newline included) for `out`, an event derived from the raw item's event by
 * dropping members and lowering the level, as byte pieces of the body. kind and apiVersion are
 * written first as the API server's log backend does, whatever the item had.
 */
export function rawLine(b: Buffer, item: RawItem, out: Record<string, unknown>, sourceLevel: unknown, pieces: Buffer[]): void {
  pieces.push(PREFIX);
  let pos = item.start + 1;
  const close = item.end - 1;
  for (const m of item.members) {
    let replace: Buffer | null = null;
    if (m.key === 'level') {
      if (out.level === sourceLevel) continue;
      replace = levelMember(String(out.level));
    } else if (m.key !== 'kind' && m.key !== 'apiVersion' && out[m.key] !== undefined) {
      continue;
    }
    // Copy what lies before the member, without the comma that separated it.
    let runEnd = m.start;
    if (b[runEnd - 1] === COMMA) runEnd--;
    if (runEnd > pos) pieces.push(COMMA_BUF, b.subarray(pos, runEnd));
    if (replace) pieces.push(COMMA_BUF, replace);
    pos = m.end;
    if (b[pos] === COMMA) pos++;
  }
  if (close > pos) pieces.push(COMMA_BUF, b.subarray(pos, close));
  pieces.push(END);
}
