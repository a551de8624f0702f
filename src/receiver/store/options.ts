/** How the store writes: rotation by size, the dedupe window and its limits, and how data is made durable. */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

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
