import { open, readFile, rm } from 'node:fs/promises';
import { RuntimeFailure } from '../errors.js';
import { ensurePrivateDir } from './fsutil.js';
import { isAlive } from './process.js';
import type { LabPaths } from './paths.js';

interface Holder {
  pid: number;
  command: string;
  since: string;
}

export interface LockOptions {
  /** How long a second command waits for the first before giving up. */
  timeoutMs?: number;
  pollMs?: number;
}

async function readHolder(path: string): Promise<Holder | null> {
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as Holder;
    return Number.isInteger(h.pid) ? h : null;
  } catch {
    return null;
  }
}

/**
 * Runs fn while holding the lab's lock, so two commands never mutate one lab at once. The lock is
 * a file created with O_EXCL that names its holder; a holder that died is detected by pid and its
 * lock taken over.
 */
export async function withLabLock<T>(paths: LabPaths, command: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const pollMs = opts.pollMs ?? 50;
  await ensurePrivateDir(paths.home);
  await ensurePrivateDir(paths.dir);
  const deadline = Date.now() + timeoutMs;
  const me: Holder = { pid: process.pid, command, since: new Date().toISOString() };
  for (;;) {
    try {
      const fh = await open(paths.lock, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(paths.lock);
    if (holder && !isAlive(holder.pid)) {
      await rm(paths.lock, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} (\`audit-lab ${holder.command}\`, since ${holder.since})` : 'another process';
      throw new RuntimeFailure(
        `lab ${JSON.stringify(paths.name)} is busy: ${who} holds ${paths.lock}`,
        holder
          ? `wait for it to finish and try again; if pid ${holder.pid} is not audit-lab, remove ${paths.lock}`
          : `wait and try again; if no audit-lab is running, remove ${paths.lock}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  try {
    return await fn();
  } finally {
    // Only remove the lock if it is still ours (a takeover could have replaced it).
    const holder = await readHolder(paths.lock);
    if (holder?.pid === process.pid) await rm(paths.lock, { force: true });
  }
}
