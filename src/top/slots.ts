/**
 * Events and bytes per slice of event time, over a sliding stretch of it, in fixed memory: a ring
 * of `size` slots of `width` µs, holding the newest `size` slots seen. Events older than the ring
 * are left out of it (a group's totals still count them), so memory never grows with events.
 */
export class TimeSlots {
  /** Counts in [0, size), then bytes in [size, 2 size) when kept. */
  private readonly data: Float64Array;
  /** The number (time / width) of the newest slot held. */
  private newest = -Infinity;
  /** Events and bytes of every slot held, kept as slots fill and empty. */
  private heldEvents = 0;
  private heldBytes = 0;

  constructor(
    readonly size: number,
    readonly width: number,
    private readonly withBytes: boolean,
  ) {
    this.data = new Float64Array(withBytes ? 2 * size : size);
  }

  /** The number of the slot holding time `t` (µs). */
  slotOf(t: number): number {
    return Math.floor(t / this.width);
  }

  private index(slot: number): number {
    return ((slot % this.size) + this.size) % this.size;
  }

  add(t: number, bytes: number): void {
    const slot = this.slotOf(t);
    if (slot > this.newest) {
      // The ring moves on: the slots it passes start empty (all of them after a long gap).
      for (let s = Math.max(this.newest + 1, slot - this.size + 1); s <= slot; s++) {
        const i = this.index(s);
        this.heldEvents -= this.data[i]!;
        this.data[i] = 0;
        if (this.withBytes) {
          this.heldBytes -= this.data[this.size + i]!;
          this.data[this.size + i] = 0;
        }
      }
      this.newest = slot;
    } else if (slot <= this.newest - this.size) {
      return;
    }
    const i = this.index(slot);
    this.data[i]! += 1;
    this.heldEvents += 1;
    if (this.withBytes) {
      this.data[this.size + i]! += bytes;
      this.heldBytes += bytes;
    }
  }

  private isHeld(slot: number): boolean {
    return slot <= this.newest && slot > this.newest - this.size;
  }

  /** Adds `sign` times the events and bytes of slots `from` to `to` (all held) to out[at], out[at + 1]. */
  private walk(from: number, to: number, sign: number, out: Float64Array, at: number): void {
    for (let s = from, i = this.index(from); s <= to; s++, i = i + 1 === this.size ? 0 : i + 1) {
      out[at]! += sign * this.data[i]!;
      if (this.withBytes) out[at + 1]! += sign * this.data[this.size + i]!;
    }
  }

  /**
   * Events and bytes in the `count` slots that end with slot `end`, written to out[at] and
   * out[at + 1]. A live frame asks this of every group each second, mostly for (nearly) all the
   * ring holds: that is the running total less the few held slots outside the stretch, so it
   * costs no walk over the ring, and nothing is allocated.
   */
  sumInto(end: number, count: number, out: Float64Array, at: number): void {
    const oldest = this.newest - this.size + 1;
    const from = Math.max(end - count + 1, oldest);
    const to = Math.min(end, this.newest);
    out[at] = 0;
    out[at + 1] = 0;
    if (from > to) return;
    if (from - oldest + (this.newest - to) >= to - from + 1) {
      this.walk(from, to, 1, out, at);
      return;
    }
    out[at] = this.heldEvents;
    out[at + 1] = this.heldBytes;
    if (from > oldest) this.walk(oldest, from - 1, -1, out, at);
    if (to < this.newest) this.walk(to + 1, this.newest, -1, out, at);
  }

  /** Events and bytes in the `count` slots that end with slot `end`. */
  sum(end: number, count: number): { events: number; bytes: number } {
    const out = new Float64Array(2);
    this.sumInto(end, count, out, 0);
    return { events: out[0]!, bytes: out[1]! };
  }

  /** Events per slot of the `count` slots that end with slot `end`, oldest first. */
  series(end: number, count: number): number[] {
    const out: number[] = [];
    for (let s = end - count + 1; s <= end; s++) out.push(this.isHeld(s) ? this.data[this.index(s)]! : 0);
    return out;
  }
}
