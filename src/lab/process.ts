import { readFileSync } from 'node:fs';

/**
 * Whether a process is running. A killed process whose parent never reaped it (an orphan in a
 * container without an init) stays a zombie and still answers signal 0: /proc says it is dead.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    // No /proc (macOS): signal 0 is all there is.
    return true;
  }
}
