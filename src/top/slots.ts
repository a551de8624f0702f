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
        this.data[i] = 0;
        if (this.withBytes) this.data[this.size + i] = 0;
      }
      this.newest = slot;
    } else if (slot <= this.newest - this.size) {
      return;
    }
    const i = this.index(slot);
    this.data[i]! += 1;
    if (this.withBytes) this.data[this.size + i]! += bytes;
  }

  private held(slot: number): boolean {
    return slot <= this.newest && slot > this.newest - this.size;
  }

  /** Events and bytes in the `count` slots that end with slot `end`. */
  sum(end: number, count: number): { events: number; bytes: number } {
    let events = 0;
    let bytes = 0;
    for (let s = end - count + 1; s <= end; s++) {
      if (!this.held(s)) continue;
      const i = this.index(s);
      events += this.data[i]!;
      if (this.withBytes) bytes += this.data[this.size + i]!;
    }
    return { events, bytes };
  }

  /** Events per slot of the `count` slots that end with slot `end`, oldest first. */
  series(end: number, count: number): number[] {
    const out: number[] = [];
    for (let s = end - count + 1; s <= end; s++) out.push(this.held(s) ? this.data[this.index(s)]! : 0);
    return out;
  }
}
