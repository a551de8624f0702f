/**
 * One stream per sink: <streamsDir>/<stem>.log in the API server's audit-log format (one v1 Event
 * as JSON per line), rotated by size to <stem>.log.1 ... <stem>.log.N (the stem is the sink's name
 * or, for a long one, a shortened form: see streams/names.ts). `tail` reads these files
 * while they are written, so the contract is strict: a line is whole or absent, rotation is a
 * rename of <stem>.log to <stem>.log.1, and nothing else ever renames or rewrites a stream (a
 * write that fails, or whose sync fails, is cut back off).
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { ensurePrivateDir } from '../lab/fsutil.js';
import { parseStreamFileName, recordSinkName, rotatedStreamFile, streamFile } from '../streams/names.js';


/** Like the API server's --audit-log-maxsize / --audit-log-maxbackup. */
export interface RotateOptions {
  /** Rotate before a write would take <sink>.log past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (<sink>.log.1 newest ... <sink>.log.N oldest); 0 keeps none. */
  maxBackups: number;
}

export interface StreamOptions extends RotateOptions {
  /**
   * How long an auditID+stage key is remembered to drop retried events. The API server retries a
   * batch for about 4 minutes (10 s backoff x1.5, 5 tries, 30 s timeouts); 6 minutes covers that
   * with room for a receiver restart in between.
   */
  dedupeWindowMs: number;
  /**
   * At most this many keys (ring entries: a key again when another sink stored it after its chunk
   * was full) per table of up to 16 sinks, whatever their age: a memory guard, well above the
   * 1.44 M that 6 minutes at the API server's default maximum rate (4,000 events/s) bring.
   */
  dedupeKeys: number;
  /** At most this much of a stream's newest files is read at start to seed the keys. */
  seedBytes: number;
  /** The clock of the dedupe window (ms); injectable for tests. */
  now: () => number;
  /** Makes a stream's written data durable before it is acknowledged; injectable for tests. */
  sync: (fh: FileHandle) => Promise<void>;
  /** Makes a rename or create in the streams directory durable. */
  syncDir: (dir: string) => Promise<void>;
}

async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  maxBytes: 100 * 1024 * 1024,
  maxBackups: 5,
  dedupeWindowMs: 6 * 60 * 1000,
  dedupeKeys: 2_500_000,
  seedBytes: 1024 * 1024 * 1024,
  now: () => Date.now(),
  sync: (fh) => fh.datasync(),
  syncDir: fsyncDir,
};

/**
 * Writes acknowledged before they are on disk: an acknowledged batch may be lost on power loss.
 * Only `npm run bench:receiver` asks for it (serve's hidden --skip-fsync-for-benchmark), to print
 * what durability costs.
 */
export const SKIP_SYNC: Pick<StreamOptions, 'sync' | 'syncDir'> = { sync: async () => {}, syncDir: async () => {} };

/** A stream path that is a symbolic link: the receiver never writes through one. */
export class StreamLinkError extends Error {
  constructor(readonly path: string) {
    super(`stream file ${path} is a symbolic link; the receiver does not write through links: remove it (its sink's events go to a new file)`);
  }
}

/** Opens a stream path without following a link; a link is a StreamLinkError. */
async function openNoFollow(path: string, flags: number, mode?: number): Promise<FileHandle> {
  try {
    return await open(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP on Linux and macOS, EMLINK on FreeBSD.
    if ((code === 'ELOOP' || code === 'EMLINK') && (await lstat(path).catch(() => null))?.isSymbolicLink()) throw new StreamLinkError(path);
    throw err;
  }
}

/**
 * An event's identity for dedupe: a 64-bit digest of auditID and stage, as two 32-bit halves. Three
 * sinks × 50,000 string keys in Sets cost the receiver as much time as parsing the batches did (every
 * lookup a cache miss on a string) and ~15 MB; a digest lives in typed arrays. Two different events
 * share a digest with probability ~2^-64 per pair, far below anything a lab will see.
 */
export interface DedupeKey {
  readonly hi: number;
  readonly lo: number;
}

/** An event to store: its dedupe key and its line (newline included), possibly in pieces. */
export interface Line {
  key: DedupeKey;
  parts: Buffer[];
}

export function jsonLine(key: DedupeKey, json: string): Line {
  return { key, parts: [Buffer.from(`${json}\n`)] };
}

/** Two independent 32-bit hashes (FNV-1a and a murmur-style multiply) with murmur3's finalizer each. */
export function dedupeKey(auditID: string, stage: string): DedupeKey {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  const mix = (c: number) => {
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  };
  for (let i = 0; i < auditID.length; i++) mix(auditID.charCodeAt(i));
  mix(0x2f); // '/': "ab"+"c" and "a"+"bc" differ
  for (let i = 0; i < stage.length; i++) mix(stage.charCodeAt(i));
  return { hi: fmix(a ^ auditID.length), lo: fmix(b ^ stage.length) };
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export interface WriteResult {
  written: number;
  duplicates: number;
}

interface Pending {
  data: Buffer[];
  keys: DedupeKey[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Digest -> value, open addressing with linear probing in typed arrays; grows at half full and
 * deletes by backward shift, so no tombstones accumulate under constant churn.
 */
export class DigestMap<V> {
  private his: Int32Array;
  private los: Int32Array;
  private vals: (V | undefined)[];
  private mask: number;
  private count = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.his = new Int32Array(cap);
    this.los = new Int32Array(cap);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  private slot(k: DedupeKey): number {
    const { his, los, vals, mask } = this;
    let i = (k.hi ^ Math.imul(k.lo, 0x9e3779b1)) & mask;
    while (vals[i] !== undefined && (his[i] !== k.hi || los[i] !== k.lo)) i = (i + 1) & mask;
    return i;
  }

  get(k: DedupeKey): V | undefined {
    return this.vals[this.slot(k)];
  }

  has(k: DedupeKey): boolean {
    return this.vals[this.slot(k)] !== undefined;
  }

  /** `v` must not be undefined. */
  set(k: DedupeKey, v: V): void {
    const i = this.slot(k);
    if (this.vals[i] === undefined) {
      if ((this.count + 1) * 2 > this.vals.length) {
        this.grow();
        this.set(k, v);
        return;
      }
      this.count++;
      this.his[i] = k.hi;
      this.los[i] = k.lo;
    }
    this.vals[i] = v;
  }

  delete(k: DedupeKey): boolean {
    const { his, los, vals, mask } = this;
    let i = this.slot(k);
    if (vals[i] === undefined) return false;
    this.count--;
    // Backward shift: move later entries of the probe run into the hole when their home allows it.
    for (let j = (i + 1) & mask; vals[j] !== undefined; j = (j + 1) & mask) {
      const home = (his[j]! ^ Math.imul(los[j]!, 0x9e3779b1)) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        his[i] = his[j]!;
        los[i] = los[j]!;
        vals[i] = vals[j];
        i = j;
      }
    }
    vals[i] = undefined;
    return true;
  }

  private grow(): void {
    const { his, los, vals } = this;
    const cap = vals.length * 2;
    this.his = new Int32Array(cap);
    this.los = new Int32Array(cap);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== undefined) this.set({ hi: his[i]!, lo: los[i]! }, v);
    }
  }
}

/** Ring entries per chunk: the unit in which old keys are dropped (96 KB). */
const RING_CHUNK = 8192;
const RING_SHIFT = 13;
const MIN_SLOTS = 1 << 12;
/** Sinks per table: a ring entry's word holds a 16-bit mask and the 16 bits it added. */
export const SINKS_PER_TABLE = 16;

/**
 * The dedupe keys of up to 16 sinks, in one table: which sinks stored each key in the last
 * `windowMs`, at most `cap` ring entries (the oldest go first beyond it).
 *
 * Every sink of a store sees the same events (static mode: one batch split by sink; dynamic mode:
 * each AuditSink gets every event its level and stages take), so one key with a bit per sink costs
 * a third of three sets of the same keys.
 *
 * The ring: entries of (hi, lo, word) in insertion order, in chunks of 8192, each chunk with the
 * time of its newest addition; a chunk is dropped whole once that is out of the window (so a bit is
 * kept at least `windowMs`, at most one chunk's filling longer), and per-key times cost nothing.
 * A word is the key's sink mask (low 16 bits, kept up to date in the key's newest entry only) and
 * the bits this entry added (high 16 bits). A sink adding a key whose newest entry is in the last
 * chunk sets its bit there; otherwise the key gets a new entry (mask: the old one's plus the bit),
 * and when an older entry leaves the ring its added bits leave the newest entry's mask. A bit is in
 * one live entry's added bits at a time, so each sink's bit goes when its own addition expires.
 *
 * The table: open addressing over one Int32Array of (hi, ref) pairs, ref naming the key's newest
 * ring entry (0: empty slot); a probe compares `hi` in the pair and reads the ring only when it
 * matches. It grows at 11/16 full (6 minutes at 4,000 events/s, 1.44 M keys, fit 2 M slots:
 * 16 MB, plus 17 MB of ring) and shrinks when the window empties, so memory follows the event rate.
 */
export class SharedKeys {
  private table = new Int32Array(MIN_SLOTS * 2);
  private mask = MIN_SLOTS - 1;
  private shift = 32 - Math.log2(MIN_SLOTS);
  private count = 0;
  /** Ring chunks by id (an id names a chunk in refs for as long as it lives; freed ids are reused). */
  private readonly byId: (Int32Array | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** Live chunk ids, oldest first, and the time of each one's newest addition. */
  private readonly order: number[] = [];
  private readonly times: number[] = [];
  /** Next entry to drop, in order[0]. */
  private head = 0;
  /** Entries in the last chunk. */
  private tail = RING_CHUNK;
  private entries = 0;
  private lastTime = -Infinity;
  /** Sink bits handed out. */
  private used = 0;

  private readonly cap: number;

  constructor(
    cap: number,
    private readonly windowMs: number,
  ) {
    this.cap = Math.max(1, cap);
  }

  /** Keys held (for any sink). */
  get size(): number {
    return this.count;
  }

  /** Ring entries held: the keys plus those re-added by another sink after their chunk was full. */
  get ringEntries(): number {
    return this.entries;
  }

  /** A free sink index (0-15), or null when the table has 16 sinks. */
  acquire(): number | null {
    for (let i = 0; i < SINKS_PER_TABLE; i++) {
      if ((this.used & (1 << i)) === 0) {
        this.used |= 1 << i;
        return i;
      }
    }
    return null;
  }

  /**
   * Forgets every key of sink `index` and frees the index, so a sink given it later starts with
   * nothing it did not store. Reads the whole table and ring: for a sink that goes away, not per batch.
   */
  release(index: number): void {
    const bit = 1 << index;
    const clear = ~(bit | (bit << 16));
    for (let n = 0; n < this.order.length; n++) {
      const c = this.byId[this.order[n]!]!;
      for (let j = 2; j < c.length; j += 3) c[j]! &= clear;
    }
    // Keys no sink holds now go; the table is rebuilt (a deletion scan would shift entries under it).
    this.resize(this.mask + 1);
    this.used &= ~bit;
    this.shrink();
  }

  private home(hi: number): number {
    // hi is already a finalized hash: a multiply spreads it over the table's bits.
    return Math.imul(hi, 0x9e3779b1) >>> this.shift;
  }

  private chunkOf(ref: number): Int32Array {
    return this.byId[(ref - 1) >>> RING_SHIFT]!;
  }

  /** The slot of the key, or of the empty slot where it would go. */
  private slot(hi: number, lo: number): number {
    const t = this.table;
    const mask = this.mask;
    let i = this.home(hi);
    for (;;) {
      const ref = t[2 * i + 1]!;
      if (ref === 0) return i;
      if (t[2 * i] === hi && this.chunkOf(ref)[3 * ((ref - 1) & (RING_CHUNK - 1)) + 1] === lo) return i;
      i = (i + 1) & mask;
    }
  }

  /** The word of the entry `ref` names. */
  private word(ref: number): number {
    return this.chunkOf(ref)[3 * ((ref - 1) & (RING_CHUNK - 1)) + 2]!;
  }

  private setWord(ref: number, w: number): void {
    this.chunkOf(ref)[3 * ((ref - 1) & (RING_CHUNK - 1)) + 2] = w;
  }

  has(k: DedupeKey, index: number): boolean {
    const ref = this.table[2 * this.slot(k.hi, k.lo) + 1]!;
    return ref !== 0 && (this.word(ref) & (1 << index)) !== 0;
  }

  /**
   * Remembers `k` as stored by sink `index` at `now` (ms). A time before one already added counts
   * as that one (chunks stay in time order): so sinks seeded together at start keep their older
   * keys until the newest seeded one leaves, longer than the window, never shorter.
   */
  add(k: DedupeKey, index: number, now: number): void {
    const { hi, lo } = k;
    const bit = 1 << index;
    if (now > this.lastTime) this.lastTime = now;
    let i = this.slot(hi, lo);
    let ref = this.table[2 * i + 1]!;
    if (ref !== 0) {
      const w = this.word(ref);
      if ((w & bit) !== 0) return;
      if ((ref - 1) >>> RING_SHIFT === this.order[this.order.length - 1]) {
        this.setWord(ref, w | bit | (bit << 16));
        this.times[this.times.length - 1] = this.lastTime;
        return;
      }
    }
    if (this.entries >= this.cap) {
      this.dropOldest();
      // The removal may have shifted slots, or removed this key.
      i = this.slot(hi, lo);
      ref = this.table[2 * i + 1]!;
    }
    let maskBits = bit;
    if (ref === 0) {
      if ((this.count + 1) * 16 > (this.mask + 1) * 11) {
        this.resize((this.mask + 1) * 2);
        i = this.slot(hi, lo);
      }
      this.count++;
      this.table[2 * i] = hi;
    } else {
      maskBits |= this.word(ref) & 0xffff;
    }
    this.table[2 * i + 1] = this.push(hi, lo, maskBits | (bit << 16));
  }

  /** Appends a ring entry; returns its ref. */
  private push(hi: number, lo: number, w: number): number {
    if (this.tail === RING_CHUNK) {
      const id = this.freeIds.pop() ?? this.byId.length;
      this.byId[id] = new Int32Array(RING_CHUNK * 3);
      this.order.push(id);
      this.times.push(this.lastTime);
      this.tail = 0;
    }
    const id = this.order[this.order.length - 1]!;
    const c = this.byId[id]!;
    const j = this.tail++;
    c[3 * j] = hi;
    c[3 * j + 1] = lo;
    c[3 * j + 2] = w;
    this.times[this.times.length - 1] = this.lastTime;
    this.entries++;
    return (id << RING_SHIFT) + j + 1;
  }

  /** Forgets what was stored before `now - windowMs`. */
  expire(now: number): void {
    const cutoff = now - this.windowMs;
    let dropped = false;
    while (this.order.length > 0 && this.times[0]! < cutoff) {
      const id = this.order[0]!;
      const c = this.byId[id]!;
      const end = this.order.length === 1 ? this.tail : RING_CHUNK;
      for (let j = this.head; j < end; j++) this.leave(c[3 * j]!, c[3 * j + 1]!, c[3 * j + 2]!, (id << RING_SHIFT) + j + 1);
      this.shiftChunk();
      dropped = true;
    }
    if (dropped) this.shrink();
  }

  private dropOldest(): void {
    const id = this.order[0]!;
    const c = this.byId[id]!;
    const j = this.head;
    this.leave(c[3 * j]!, c[3 * j + 1]!, c[3 * j + 2]!, (id << RING_SHIFT) + j + 1);
    this.head++;
    this.entries--;
    if (this.head === (this.order.length === 1 ? this.tail : RING_CHUNK)) this.shiftChunk();
  }

  /** Ring entry `ref` leaves: its added bits leave the key, and a key left with none goes. */
  private leave(hi: number, lo: number, w: number, ref: number): void {
    const i = this.slot(hi, lo);
    const cur = this.table[2 * i + 1]!;
    if (cur === 0) return;
    if (cur === ref) {
      this.removeAt(i);
      return;
    }
    const rest = this.word(cur) & ~(w >>> 16);
    this.setWord(cur, rest);
    if ((rest & 0xffff) === 0) this.removeAt(i);
  }

  /** Drops the oldest chunk (its entries from `head` on have left). */
  private shiftChunk(): void {
    this.entries -= (this.order.length === 1 ? this.tail : RING_CHUNK) - this.head;
    const id = this.order.shift()!;
    this.times.shift();
    this.byId[id] = undefined;
    this.freeIds.push(id);
    this.head = 0;
    if (this.order.length === 0) this.tail = RING_CHUNK;
  }

  private shrink(): void {
    let slots = this.mask + 1;
    while (slots > MIN_SLOTS && this.count * 8 < slots) slots /= 2;
    if (slots < this.mask + 1) this.resize(slots);
  }

  /** Rebuilds the table with `slots` slots, leaving out keys whose mask is empty. */
  private resize(slots: number): void {
    const old = this.table;
    this.table = new Int32Array(slots * 2);
    this.mask = slots - 1;
    this.shift = 32 - Math.log2(slots);
    this.count = 0;
    const t = this.table;
    for (let j = 0; j < old.length; j += 2) {
      const ref = old[j + 1]!;
      if (ref === 0 || (this.word(ref) & 0xffff) === 0) continue;
      // Keys are distinct: the first empty slot from home is the place.
      let i = this.home(old[j]!);
      while (t[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      t[2 * i] = old[j]!;
      t[2 * i + 1] = ref;
      this.count++;
    }
  }

  /** Backward-shift deletion: no tombstones, so probes stay short under constant churn. */
  private removeAt(i: number): void {
    const t = this.table;
    const mask = this.mask;
    this.count--;
    for (let j = (i + 1) & mask; t[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = this.home(t[2 * j]!);
      if (((j - home) & mask) >= ((j - i) & mask)) {
        t[2 * i] = t[2 * j]!;
        t[2 * i + 1] = t[2 * j + 1]!;
        i = j;
      }
    }
    t[2 * i] = 0;
    t[2 * i + 1] = 0;
  }
}

/** One sink's keys in a shared table. */
export class SinkKeys {
  constructor(
    readonly table: SharedKeys,
    readonly index: number,
  ) {}

  has(k: DedupeKey): boolean {
    return this.table.has(k, this.index);
  }

  add(k: DedupeKey, now: number): void {
    this.table.add(k, this.index, now);
  }

  expire(now: number): void {
    this.table.expire(now);
  }
}

/** The keys of one sink alone, in a table of its own. */
export class RecentKeys extends SinkKeys {
  constructor(cap: number, windowMs: number) {
    const table = new SharedKeys(cap, windowMs);
    super(table, table.acquire()!);
  }

  get size(): number {
    return this.table.size;
  }
}

const ID_MARK = Buffer.from('"auditID":"');
const STAGE_MARK = Buffer.from('"stage":"');
const SEED_CHUNK = 1024 * 1024;
/** Largest write buffer a stream keeps for reuse. */
const MAX_SCRATCH = 8 * 1024 * 1024;

/**
 * The key of one of our lines (JSON.stringify of a v1 Event or the API server's own bytes: auditIDs
 * are UUIDs and stages plain words), from its bytes; null when it has none.
 */
function keyOfLine(line: Buffer): DedupeKey | null {
  const i = line.indexOf(ID_MARK);
  if (i < 0) return null;
  const idStart = i + ID_MARK.length;
  let idEnd = idStart;
  while (idEnd < line.length && line[idEnd] !== 0x22 && line[idEnd] !== 0x5c) idEnd++;
  if (line[idEnd] !== 0x22) return null;
  const j = line.indexOf(STAGE_MARK);
  if (j < 0) return null;
  const stStart = j + STAGE_MARK.length;
  let stEnd = stStart;
  while (stEnd < line.length && ((line[stEnd]! | 0x20) >= 0x61 && (line[stEnd]! | 0x20) <= 0x7a)) stEnd++;
  if (stEnd === stStart || line[stEnd] !== 0x22) return null;
  return dedupeKey(line.toString('utf8', idStart, idEnd), line.toString('latin1', stStart, stEnd));
}

/**
 * Calls `each` with the key of every whole line in the last `bytes` of a file, in file order, reading
 * a megabyte at a time: a partial first line is skipped when not at the file's start. Returns the
 * bytes covered and whether they reach the file's start; null when there is no file. (The whole
 * tail as one string, split into lines, was 16 MB per sink of garbage that V8 kept as heap.)
 */
async function tailKeys(path: string, bytes: number, each: (k: DedupeKey) => void): Promise<{ read: number; fromStart: boolean } | null> {
  let fh: FileHandle;
  try {
    fh = await openNoFollow(path, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(SEED_CHUNK);
    // Bytes of a line begun in the previous chunk.
    let carry: Buffer | null = null;
    let skipFirst = start > 0;
    for (let pos = start; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(SEED_CHUNK, size - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      let from = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
        const line: Buffer = carry ? Buffer.concat([carry, chunk.subarray(from, nl)]) : chunk.subarray(from, nl);
        carry = null;
        from = nl + 1;
        if (skipFirst) {
          skipFirst = false;
          continue;
        }
        const k = keyOfLine(line);
        if (k) each(k);
      }
      // The rest is copied: `buf` is read into again.
      if (from < bytesRead) carry = carry ? Buffer.concat([carry, chunk.subarray(from)]) : Buffer.from(chunk.subarray(from));
    }
    return { read: size - start, fromStart: start === 0 };
  } finally {
    await fh.close();
  }
}

/**
 * A crash can leave the last line half written: cut the file back to its last newline so readers
 * and the dedupe seed only ever see whole lines. Returns the size kept.
 */
export async function repairTornLine(fh: FileHandle): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const chunk = 64 * 1024;
  let end = size;
  const buf = Buffer.alloc(chunk);
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) await fh.truncate(keep);
      return keep;
    }
    end = start;
  }
  await fh.truncate(0);
  return 0;
}

export class SinkStream {
  private fh: FileHandle | null = null;
  private size = 0;
  /** What this sink stored in the dedupe window, in the table its store's sinks share. */
  private readonly stored: SinkKeys;
  /** Keys being written now, with the write that carries them, so a concurrent retry waits for that write. */
  private readonly inflight = new DigestMap<Promise<void>>();
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;
  private scratch: Buffer | null = null;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | null = null;

  constructor(
    readonly sink: string,
    readonly path: string,
    private readonly opts: StreamOptions,
    keys?: SinkKeys,
  ) {
    this.stored = keys ?? new RecentKeys(opts.dedupeKeys, opts.dedupeWindowMs);
  }

  private get dir(): string {
    return join(this.path, '..');
  }

  /** Opens (creating) <stem>.log for appending, never through a link, and makes its entry durable. */
  private async openCurrent(): Promise<void> {
    const fh = await openNoFollow(this.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      // The mode given to open() is masked by the umask, and an existing file keeps its own.
      await fh.chmod(0o600);
      await this.opts.syncDir(this.dir);
    } catch (err) {
      await fh.close();
      throw err;
    }
    this.fh = fh;
  }

  async open(): Promise<void> {
    await recordSinkName(this.dir, this.sink);
    await this.openCurrent();
    try {
      this.size = await repairTornLine(this.fh!);
      await this.seed();
    } catch (err) {
      await this.fh?.close();
      this.fh = null;
      throw err;
    }
  }

  /**
   * Remembers what the stream already holds back to the dedupe window, oldest first, so retries
   * of it after a restart are dropped. A file's keys count as stored when the file was last
   * written (its mtime): never later than they were, so none leaves the window early; a rotated
   * file last written before the window holds nothing in it, nor do older ones.
   */
  private async seed(): Promise<void> {
    const now = this.opts.now();
    const cutoff = now - this.opts.dedupeWindowMs;
    const plan: { path: string; bytes: number; time: number }[] = [];
    let budget = this.opts.seedBytes;
    for (let gen = 0; budget > 0 && gen <= this.opts.maxBackups; gen++) {
      const path = rotatedStreamFile(this.path, gen);
      const st = gen === 0 ? await this.fh!.stat() : await lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      // Rotation leaves no gaps: the first missing file is past the oldest.
      if (st === null) break;
      if (gen > 0 && st.mtimeMs < cutoff) break;
      const bytes = Math.min(gen === 0 ? this.size : st.size, budget);
      plan.unshift({ path, bytes, time: Math.min(st.mtimeMs, now) });
      budget -= bytes;
    }
    for (const p of plan) await tailKeys(p.path, p.bytes, (k) => this.stored.add(k, p.time));
    this.stored.expire(now);
  }

  get bytes(): number {
    return this.size;
  }

  /**
   * Appends the lines not stored before (by key) and resolves once they are written and synced,
   * so the caller acknowledges only what is on disk. Lines whose key another write is carrying wait for that
   * write: if it fails, this batch fails too and the sender retries both.
   */
  async write(lines: readonly Line[]): Promise<WriteResult> {
    if (this.closed) throw new Error(`stream ${this.sink} is closed`);
    this.stored.expire(this.opts.now());
    const data: Buffer[] = [];
    const keys: DedupeKey[] = [];
    const waits = new Set<Promise<void>>();
    let duplicates = 0;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Marked handled here: every waiter awaits it below or through `waits`.
    done.catch(() => {});
    for (const l of lines) {
      if (this.stored.has(l.key)) {
        duplicates++;
        continue;
      }
      // Carried by another write, or earlier in this batch (then `other` is `done`).
      const other = this.inflight.get(l.key);
      if (other) {
        if (other !== done) waits.add(other);
        duplicates++;
        continue;
      }
      this.inflight.set(l.key, done);
      keys.push(l.key);
      for (const p of l.parts) data.push(p);
    }
    if (keys.length > 0) {
      this.queue.push({ data, keys, resolve, reject });
      waits.add(done);
      this.pump();
    }
    await Promise.all(waits);
    return { written: keys.length, duplicates };
  }

  /**
   * Group commit: one write and one sync at a time per file; batches that arrive meanwhile go out
   * together in the next round, sharing its sync.
   */
  private pump(): void {
    if (this.writing || this.queue.length === 0) return;
    this.writing = true;
    this.idle = new Promise((r) => (this.idleResolve = r));
    const group = this.queue;
    this.queue = [];
    const roundDone = this.idleResolve;
    void this.flushGroup(group).finally(() => {
      this.writing = false;
      if (this.queue.length > 0) this.pump();
      // Every round's waiters wake (close() then waits for the next round, if one began).
      roundDone?.();
    });
  }

  /** Writes a group and resolves its batches once the data is on disk, so only that is acknowledged. */
  private async flushGroup(group: Pending[]): Promise<void> {
    let total = 0;
    for (const p of group) for (const d of p.data) total += d.length;
    try {
      // A rotation that failed after closing the old file left none open: try again.
      if (!this.fh) await this.openCurrent();
      if (this.size > 0 && this.size + total > this.opts.maxBytes) await this.rotate();
      await this.writeAll(this.gather(group, total), total);
      const now = this.opts.now();
      for (const p of group) {
        for (const k of p.keys) {
          this.stored.add(k, now);
          this.inflight.delete(k);
        }
        p.resolve();
      }
    } catch (err) {
      for (const p of group) {
        for (const k of p.keys) this.inflight.delete(k);
        p.reject(err);
      }
    }
  }

  /**
   * The group's lines in one buffer, this stream's own and reused from write to write (one write
   * at a time per stream). A writev of the pieces (views into the request bodies) copied nothing,
   * but Node turns each of its thousands of iovecs into a uv_buf_t one by one: that cost more than
   * the copy, and a fresh buffer per write held megabytes of external memory until a full GC.
   */
  private gather(group: Pending[], total: number): Buffer {
    if (group.length === 1 && group[0]!.data.length === 1) return group[0]!.data[0]!;
    let out = this.scratch;
    if (!out || out.length < total) {
      let size = 256 * 1024;
      while (size < total) size *= 2;
      out = Buffer.allocUnsafeSlow(size);
      // Kept only up to a few batches' worth: a rare huge write gets a buffer of its own.
      this.scratch = size <= MAX_SCRATCH ? out : null;
    }
    let off = 0;
    for (const p of group) {
      for (const d of p.data) {
        out.set(d, off);
        off += d.length;
      }
    }
    return out;
  }

  /**
   * Appends the first `total` bytes of `buf` and syncs them: all of them or none. When the write
   * or the sync fails they are taken back, so the sender's retry (of a batch never acknowledged)
   * stores them once; if even that fails, a retry may store them twice, never lose them.
   */
  private async writeAll(buf: Buffer, total: number): Promise<void> {
    const fh = this.fh;
    if (!fh) throw new Error(`stream ${this.sink} is not open`);
    try {
      let off = 0;
      while (off < total) {
        const r = await fh.write(buf, off, total - off);
        off += r.bytesWritten;
      }
      await this.opts.sync(fh);
      this.size += total;
    } catch (err) {
      await fh.truncate(this.size).catch(() => {});
      throw err;
    }
  }

  /**
   * <stem>.log.(N-1) -> .N ... <stem>.log -> .1; the oldest beyond the cap is removed. The old file
   * is already synced (every write is); the renames and the new file are made durable together.
   */
  private async rotate(): Promise<void> {
    const old = this.fh;
    this.fh = null;
    if (old) {
      await this.opts.sync(old);
      await old.close();
    }
    const max = this.opts.maxBackups;
    if (max <= 0) {
      await rm(this.path, { force: true });
    } else {
      await rm(rotatedStreamFile(this.path, max), { force: true });
      for (let i = max - 1; i >= 1; i--) {
        // rename() moves a link itself, never what it points to.
        await rename(rotatedStreamFile(this.path, i), rotatedStreamFile(this.path, i + 1)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(this.path, rotatedStreamFile(this.path, 1));
    }
    this.size = 0;
    await this.openCurrent();
  }

  /** Frees this sink's dedupe index and keys (after close: the stream is no longer written). */
  releaseKeys(): void {
    this.stored.table.release(this.stored.index);
  }

  /** Waits for queued writes, syncs and closes. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.writing || this.queue.length > 0) await this.idle;
    const fh = this.fh;
    this.fh = null;
    if (fh) {
      await fh.sync().catch(() => {});
      await fh.close();
    }
  }
}

/** Every sink's stream, opened on first use; their dedupe keys in tables of 16 sinks each. */
export class StreamStore {
  private readonly streams = new Map<string, Promise<SinkStream>>();
  /** Streams of dropped sinks still closing: the sink's next stream opens once that one is closed. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly tables: SharedKeys[] = [];
  readonly opts: StreamOptions;

  constructor(
    readonly dir: string,
    opts: Partial<StreamOptions> = {},
  ) {
    this.opts = { ...DEFAULT_STREAM_OPTIONS, ...opts };
  }

  /** Makes the directory; refuses to start over stream files that are links, naming them. */
  async init(): Promise<void> {
    await ensurePrivateDir(this.dir);
    const links: string[] = [];
    for (const name of await readdir(this.dir)) {
      if (parseStreamFileName(name) === null) continue;
      const path = join(this.dir, name);
      if ((await lstat(path).catch(() => null))?.isSymbolicLink()) links.push(path);
    }
    if (links.length > 0) {
      throw new UserError(
        `${links.length === 1 ? 'a stream file is a symbolic link' : 'stream files are symbolic links'}: ${links.join(', ')}; the receiver does not write through links`,
        `remove ${links.length === 1 ? 'it' : 'them'} (events then go to a new file), then start the receiver again`,
      );
    }
  }

  stream(sink: string): Promise<SinkStream> {
    let s = this.streams.get(sink);
    if (!s) {
      const keys = this.keys();
      const created = new SinkStream(sink, streamFile(this.dir, sink), this.opts, keys);
      // The same file's previous stream closes first (its last writes must be in the seed); how it closed does not matter here.
      const before = this.closing.get(sink)?.catch(() => {}) ?? Promise.resolve();
      s = before.then(() => created.open()).then(() => created);
      // A failed open is retried by the next batch rather than remembered; its keys go (seeding may have begun).
      s.catch(() => {
        if (this.streams.get(sink) === s) this.streams.delete(sink);
        keys.table.release(keys.index);
      });
      this.streams.set(sink, s);
    }
    return s;
  }

  /**
   * A sink index in the first table with one free. Beyond 16 sinks a second table begins: sinks
   * share keys only within a table, so that costs memory, never correctness.
   */
  private keys(): SinkKeys {
    for (const t of this.tables) {
      const i = t.acquire();
      if (i !== null) return new SinkKeys(t, i);
    }
    const t = new SharedKeys(this.opts.dedupeKeys, this.opts.dedupeWindowMs);
    this.tables.push(t);
    return new SinkKeys(t, t.acquire()!);
  }

  /** The dedupe tables (for tests and measurements). */
  keyTables(): readonly SharedKeys[] {
    return this.tables;
  }

  /**
   * Closes the streams of sinks not in `sinks` (deleted ones) and frees their keys, so a sink made
   * later reuses the index with nothing in it; if one of them comes back, its stream is opened
   * again and seeded from its files. A batch still being written to it fails (the sender retries).
   */
  async retain(sinks: readonly string[]): Promise<void> {
    const keep = new Set(sinks);
    const gone = [...this.streams.keys()].filter((name) => !keep.has(name));
    await Promise.all(gone.map((name) => this.drop(name)));
  }

  private drop(sink: string): Promise<void> {
    const p = this.streams.get(sink)!;
    this.streams.delete(sink);
    const closed = (async () => {
      const s = await p.catch(() => null);
      if (!s) return;
      try {
        await s.close();
      } finally {
        s.releaseKeys();
      }
    })();
    this.closing.set(sink, closed);
    const done = () => {
      if (this.closing.get(sink) === closed) this.closing.delete(sink);
    };
    closed.then(done, done);
    return closed;
  }

  async write(sink: string, lines: readonly Line[]): Promise<WriteResult> {
    return (await this.stream(sink)).write(lines);
  }

  async close(): Promise<void> {
    const all = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
  }
}
