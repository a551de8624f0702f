/**
 * Following an audit log file by its name, as `tail -F` does: lines appended to it are read as
 * they come (a line only once its newline is there), and its rotation is followed. When the file
 * at the name changes (kube-apiserver's log rotation renames audit.log to audit-<time>.log and
 * creates a new audit.log), the old file is read to its end through the descriptor held open,
 * then the new one from its start; a file truncated in place (logrotate's copytruncate) is read
 * again from its start; a name with no file yet is waited for. Files are told apart by identity
 * (follow.ts), never by name.
 */
import type { SkippedLine } from './events.js';
import { statIdentity } from './follow.js';
import { openPlainAs } from './logFiles.js';
import type { LogFile } from './logReader.js';
import type { LogReader } from './logReader.js';
import type { ReadEvent } from './merge.js';

export class FileFollower {
  /** Files renamed away from the name, oldest first: read to their end before the next. */
  private readonly old: LogReader[] = [];
  /** Polls the oldest renamed file has ended without a newline. */
  private waited = 0;

  constructor(
    readonly file: LogFile,
    /** The file now at the name, read up to where reading stopped (null: none yet). */
    private current: LogReader | null,
    private readonly refused: (line: SkippedLine) => void,
    /** Polls a renamed file may end without a newline before its last line is taken as whole. */
    private readonly grace = 10,
  ) {}

  /**
   * Appends what is new to `out`, stopping once it holds `budget` events or more; true when it
   * stopped there with more to read (poll again without waiting).
   */
  async poll(out: ReadEvent[], budget: number): Promise<boolean> {
    const id = await statIdentity(this.file.path);
    if (this.current !== null && this.current.plain?.id !== id) {
      // Renamed away or removed: finish it first, then the file at the name, if any.
      this.old.push(this.current);
      this.current = null;
    }
    while (this.old.length > 0) {
      const f = this.old[0]!;
      if (await readOn(f, out, budget)) return true;
      if (f.partial && this.waited++ < this.grace) return false; // a late writer may still end its line
      out.push(...f.finish());
      await f.close();
      this.old.shift();
      this.waited = 0;
    }
    if (this.current === null && id !== undefined) this.current = await openPlainAs(this.file, id, this.refused);
    const f = this.current;
    if (f === null) return false;
    const { size } = await f.plain!.fh.stat();
    if (size < f.plain!.position) f.restart(); // truncated in place: what is there now is new
    return readOn(f, out, budget);
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
