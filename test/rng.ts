/** A random number generator for tests; seeded, so a run can be repeated. */
export type Rng = () => number;

/** Mulberry32: small and seeded, good enough to spread test cases (test/bench/topData.mjs has the same for plain node). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
