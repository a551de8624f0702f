import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRunner } from '../tools/run.js';

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

/**
 * When a process started, as an opaque token: a pid is reused once its process is gone, the pair
 * (pid, start) is not. Linux: field 22 of /proc/<pid>/stat (clock ticks since boot). Elsewhere
 * (macOS, the BSDs): `ps -o lstart=`, to the second, which pid reuse within one second cannot
 * defeat in practice. Null when neither answers: then nobody can tell, and callers must not signal.
 */
export async function processStartToken(pid: number): Promise<string | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let stat: string | null = null;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // ENOENT with /proc present: the process is gone.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await hasProc())) return null;
  }
  if (stat !== null) {
    // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[22 - 3];
    return start !== undefined && /^\d+$/.test(start) ? `proc:${start}` : null;
  }
  // An absolute path and a fixed locale: no PATH lookup, and a date format that does not move.
  const r = await createRunner({ LC_ALL: 'C', PATH: '/bin:/usr/bin' })
    .run('/bin/ps', ['-o', 'lstart=', '-p', String(pid)], { allowFailure: true, timeoutMs: 5_000 })
    .catch(() => null);
  const start = r?.exitCode === 0 ? r.stdout.trim() : '';
  return start !== '' ? `ps:${start.replace(/\s+/g, ' ')}` : null;
}

let procChecked: boolean | undefined;
async function hasProc(): Promise<boolean> {
  procChecked ??= await readFile('/proc/self/stat', 'utf8').then(
    () => true,
    () => false,
  );
  return procChecked;
}

/**
 * Whether `pid` is still the very process that `token` was recorded for. False when it is gone,
 * when its pid now belongs to another process, and when that cannot be told: a caller about to
 * signal a process must treat false as "not ours".
 */
export async function isSameProcess(pid: number, token: string | undefined): Promise<boolean> {
  if (token === undefined || !isAlive(pid)) return false;
  const now = await processStartToken(pid);
  return now !== null && now === token;
}
