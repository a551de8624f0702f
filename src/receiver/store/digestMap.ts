import type { DedupeKey } from './lines.js';

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
