/**
 * Following an audit log file by its name, as `tail -F` does: lines appended to it are read as
 * they come (a line only once its newline is there), and its rotation is followed. When the file
 * at the name changes (kube-apiserver's log rotation renames audit.log to audit-<time>.log and
 * creates a new audit.log; the receiver renames <stem>.log to <stem>.log.1), the old file is read
 * to its end through the descriptor held open, then the new one from its start; a file truncated
 * in place (logrotate's copytruncate) is read again from its start; a name with no file yet is
 * waited for. Files are told apart by identity (logChunks.ts), never by name.
 *
 * Given the rotated files at each poll (a lab's <stem>.log.N), a file that was at the name only
 * between two polls (two rotations at once) is read too, in its place, and a follower that starts
 * with nothing read reads them all, oldest first, before the file at the name.
 */
import type { SkippedLine } from './events.js';
import { statIdentity } from './logChunks.js';
import { openPlain, openPlainAs } from './logFiles.js';
import type { LogFile } from './logReader.js';
import type { LogReader } from './logReader.js';
import type { ReadEvent } from './merge.js';

/** Polls a file may be missing from the rotated ones before it is forgotten (its identity back later: a new file). */
const FORGET_AFTER_POLLS = 50;

export class FileFollower {
  /** Files renamed away from the name, oldest first: read to their end before the next. */
  private readonly old: LogReader[] = [];
  /** Polls the oldest renamed file has ended without a newline. */
  private waited = 0;
  /**
   * Identities read already (with polls since last among the rotated files), so a rotated file is
   * never read again under its new name.
   */
  private readonly seen = new Map<string, number>();

  constructor(
    readonly file: LogFile,
    /** The file now at the name, read up to where reading stopped (null: none yet). */
    private current: LogReader | null,
    private readonly refused: (line: SkippedLine) => void,
    /** Polls a renamed file may end without a newline before its last line is taken as whole. */
    private readonly grace = 10,
    /** Identities of files read already (a lab's stream files read before following). */
    read: Iterable<string> = [],
  ) {
    for (const id of read) this.seen.set(id, 0);
    if (current?.plain) this.seen.set(current.plain.id, 0);
  }

  /**
   * Appends what is new to `out`, stopping once it holds `budget` events or more; true when it
   * stopped there with more to read (poll again without waiting). `rotated`: the file's rotated
   * files now, oldest first, when it has a known rotated set.
   */
  async poll(out: ReadEvent[], budget: number, rotated?: readonly LogFile[]): Promise<boolean> {
    const id = await statIdentity(this.file.path);
    if (this.current !== null && this.current.plain?.id !== id) {
      // Renamed away or removed: finish it first, then the file at the name, if any.
      this.old.push(this.current);
      this.current = null;
    }
    if (rotated !== undefined) await this.unread(rotated, id);
    while (this.old.length > 0) {
      const f = this.old[0]!;
      if (await readOn(f, out, budget)) return true;
      if (f.partial && this.waited++ < this.grace) return false; // a late writer may still end its line
      out.push(...f.finish());
      await f.close();
      this.old.shift();
      this.waited = 0;
    }
    if (this.current === null && id !== undefined) {
      // `seen` is not asked: without birth times a new file may reuse the inode of one deleted just before.
      this.current = await openPlainAs(this.file, id, this.refused);
      if (this.current !== null) this.seen.set(id, 0);
    }
    const f = this.current;
    if (f === null) return false;
    const { size } = await f.plain!.fh.stat();
    if (size < f.plain!.position) f.restart(); // truncated in place: what is there now is new
    return readOn(f, out, budget);
  }

  /** Queues the rotated files not read yet, oldest first, after the ones renamed away while held. */
  private async unread(rotated: readonly LogFile[], current: string | undefined): Promise<void> {
    const present = new Map<string, LogFile>();
    for (const r of rotated) {
      const id = await statIdentity(r.path);
      if (id !== undefined && id !== current) present.set(id, r);
    }
    const held = new Set([...this.old, ...(this.current ? [this.current] : [])].map((f) => f.plain?.id));
    // Forget files gone for a while, so an identity that comes back much later (an inode number
    // reused where there is no birth time) reads as the new file it is.
    for (const [id, missed] of this.seen) {
      if (present.has(id) || held.has(id)) this.seen.set(id, 0);
      else if (missed >= FORGET_AFTER_POLLS) this.seen.delete(id);
      else this.seen.set(id, missed + 1);
    }
    for (const [id, file] of present) {
      if (this.seen.has(id) || held.has(id)) continue;
      const reader = await openPlainAs(file, id, this.refused);
      if (reader === null) continue; // names moved meanwhile: the next poll sees them settled
      this.old.push(reader);
      this.seen.set(id, 0);
    }
  }

  /**
   * Starts at the end of what is stored: the file at the name read on from its end, its `rotated`
   * files taken as read; only what is written from now on is read (a deleted sink's stream).
   */
  async skipToEnd(rotated: readonly LogFile[]): Promise<void> {
    for (const r of rotated) {
      const id = await statIdentity(r.path);
      if (id !== undefined) this.seen.set(id, 0);
    }
    if (this.current !== null) return;
    const reader = await openPlain(this.file, this.refused);
    if (reader === null) return;
    await reader.skipToEnd();
    this.current = reader;
    this.seen.set(reader.plain!.id, 0);
  }

  async close(): Promise<void> {
    await Promise.all([...this.old, ...(this.current ? [this.current] : [])].map((f) => f.close()));
  }
}

/** Reads `f` to its end for now, or until `out` holds `budget` events (then true). */
async function readOn(f: LogReader, out: ReadEvent[], budget: number): Promise<boolean> {
  while (out.length < budget) {
    const batch = await f.next();
    if (batch === null) return false;
    for (const e of batch) out.push(e);
  }
  return true;
}
