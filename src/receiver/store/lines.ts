/** What the store is given: each event's line, with the key that tells a retried event from a new one. */

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
