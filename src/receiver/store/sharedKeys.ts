import type { DedupeKey } from './lines.js';

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
      for (let j = this.head; j < end; j++)
        this.leave(c[3 * j]!, c[3 * j + 1]!, c[3 * j + 2]!, (id << RING_SHIFT) + j + 1);
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
