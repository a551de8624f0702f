/**
 * The receiver's log: what keeps it readable and bounded when peers misbehave. A flood of refused
 * requests wrote ~100 MB an hour to one file that was never rotated; a refusal is now one line per
 * peer per interval with a count, and the file rotates at a fixed size.
 */
import { closeSync, fchmodSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export interface RotatingLogOptions {
  /** A file is rotated before it grows past this. */
  maxBytes: number;
  /** Files kept in all, the current one included: receiver.log, receiver.log.1, ... */
  maxFiles: number;
}

/** 10 MiB x 3 files: at most 30 MiB of log, whatever arrives. */
export const DEFAULT_LOG_OPTIONS: RotatingLogOptions = { maxBytes: 10 * 1024 * 1024, maxFiles: 3 };

/**
 * Lines appended to `path`, rotated by size (path -> path.1 -> path.2 ..., the oldest dropped).
 * Writes are synchronous: one short line per batch, in order, and nothing is lost in a buffer
 * when the process is killed. A failed write (disk full) drops the line rather than the receiver.
 */
export class RotatingLog {
  private fd: number | null = null;
  private size = 0;
  private readonly opts: RotatingLogOptions;

  constructor(
    readonly path: string,
    opts: Partial<RotatingLogOptions> = {},
  ) {
    this.opts = { ...DEFAULT_LOG_OPTIONS, ...opts };
    this.open();
  }

  private open(): void {
    const fd = openSync(this.path, 'a', 0o600);
    // The mode of open() applies only to a new file; an older log may have been made wider.
    fchmodSync(fd, 0o600);
    this.size = fstatSync(fd).size;
    this.fd = fd;
  }

  /** The identity of the current file, to tell whether a stream already writes into it. */
  stat(): { dev: number; ino: number } | null {
    return this.fd === null ? null : fstatSync(this.fd);
  }

  write(line: string): void {
    const buf = Buffer.from(`${line}\n`);
    try {
      if (this.size > 0 && this.size + buf.length > this.opts.maxBytes) this.rotate();
      if (this.fd === null) return;
      writeSync(this.fd, buf);
      this.size += buf.length;
    } catch {
      // Disk full or the directory gone: the log is not worth the receiver.
    }
  }

  private rotate(): void {
    this.close();
    const name = (i: number) => (i === 0 ? this.path : `${this.path}.${i}`);
    rmSync(name(this.opts.maxFiles - 1), { force: true });
    for (let i = this.opts.maxFiles - 2; i >= 0; i--) {
      try {
        renameSync(name(i), name(i + 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.open();
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

interface PeerWindow {
  since: number;
  /** Refusals after the one that was logged, in this window. */
  more: number;
  last: string;
}

/** Refusals from peers beyond this many distinct addresses in one interval share one count. */
const MAX_PEERS = 1024;
const OTHER_PEERS = 'other peers';

/**
 * At most one refusal line per peer address per interval; the rest are counted and summed up in
 * one line ("N more refusals from X in the last 10 s (last: ...)") when the interval is over.
 * Call flush() every interval (and at the end) so a flood that stops is still summed up.
 */
export class RefusalLog {
  private readonly peers = new Map<string, PeerWindow>();

  constructor(
    private readonly out: (line: string) => void,
    readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `text`: the refusal, without a timestamp (e.g. "refused 401 POST /events from 10.0.0.1: ..."). */
  refused(peer: string, text: string): void {
    const t = this.now();
    let key = peer;
    let w = this.peers.get(key);
    if (w && t - w.since >= this.intervalMs) {
      this.summary(key, w);
      this.peers.delete(key);
      w = undefined;
    }
    if (!w && this.peers.size >= MAX_PEERS) {
      this.flush();
      if (this.peers.size >= MAX_PEERS) {
        key = OTHER_PEERS;
        w = this.peers.get(key);
      }
    }
    if (w) {
      w.more++;
      w.last = text;
      return;
    }
    this.peers.set(key, { since: t, more: 0, last: '' });
    this.out(`${new Date(t).toISOString()} ${text}`);
  }

  /** Sums up the windows that are over (all of them with `all`). */
  flush(all = false): void {
    const t = this.now();
    for (const [peer, w] of this.peers) {
      if (!all && t - w.since < this.intervalMs) continue;
      this.summary(peer, w);
      this.peers.delete(peer);
    }
  }

  private summary(peer: string, w: PeerWindow): void {
    if (w.more === 0) return;
    const secs = Math.round(Math.min(this.now() - w.since, this.intervalMs) / 1000);
    this.out(
      `${new Date(this.now()).toISOString()} … ${w.more} more refusal${w.more === 1 ? '' : 's'} from ${peer} in the last ${secs} s (last: ${w.last})`,
    );
  }
}
