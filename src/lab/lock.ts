import { createHash, randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { RuntimeFailure } from '../errors.js';
import { ensurePrivateDir } from './fsutil.js';
import { isAlive, processStartToken } from './process.js';
import type { LabPaths } from './paths.js';

interface Holder {
  pid: number;
  command: string;
  since: string;
  /** The holder's start time (Linux: clock ticks after boot), so a reused pid is not taken for the holder. */
  start?: string | null;
  /** Makes every lock file's text unique: a takeover recognises the exact file it judged stale by its text. */
  nonce?: string;
}

/** A lock file as read: its exact text (its identity) and the holder it names, if readable. */
interface Seen {
  text: string;
  holder: Holder | null;
}

export interface LockOptions {
  /** How long a second command waits for the first before giving up. */
  timeoutMs?: number;
  pollMs?: number;
}

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * Dead, or its pid now names another process. A holder whose start time cannot be read is taken
 * as alive: taking over a live holder's lock loses updates, waiting only costs time.
 */
async function holderIsDead(h: Holder): Promise<boolean> {
  if (!isAlive(h.pid)) return true;
  if (!h.start) return false;
  const now = await processStartToken(h.pid);
  return now !== null && now !== h.start;
}

/** This process's start token, read once. */
let myStart: Promise<string | null> | undefined;

function startToken(): Promise<string | null> {
  myStart ??= processStartToken(process.pid);
  return myStart;
}

async function readLock(path: string): Promise<Seen | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (code(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return { text, holder: Number.isInteger(h.pid) ? h : null };
  } catch {
    return { text, holder: null };
  }
}

/**
 * Creates `path` holding `text` only if it does not exist. link() of a complete temp file is
 * atomic and exclusive like O_EXCL, and unlike open+write no reader ever sees an empty lock file
 * (which would look like a holder that cannot be named, or worse, be judged).
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function holderText(command: string): Promise<string> {
  const me: Holder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    start: await startToken(),
    nonce: randomBytes(8).toString('hex'),
  };
  return JSON.stringify(me);
}

/**
 * Removes the file at `path` if it still is exactly `seen`, whose holder is dead. Deleting after a
 * check is only safe if nobody else can delete and re-create it between the check and the delete:
 * so only the one process that creates the takeover guard named after that exact text may, and it
 * checks again once it has the guard. A guard whose taker died is itself taken over the same way
 * (a guard is held for two file operations, so that is rare). True when the stale file is gone.
 */
async function removeStale(lockPath: string, path: string, seen: Seen, command: string, depth = 0): Promise<boolean> {
  // Each level needs a taker killed inside a takeover; give up rather than recurse without end.
  if (depth > 8) return false;
  const guard = `${lockPath}.takeover-${createHash('sha256').update(seen.text).digest('hex').slice(0, 16)}`;
  if (!(await createExclusive(guard, await holderText(`${command} (taking over a dead holder's lock)`)))) {
    const g = await readLock(guard);
    if (g === null) return false;
    if (g.holder && (await holderIsDead(g.holder))) await removeStale(lockPath, guard, g, command, depth + 1);
    return false;
  }
  try {
    const now = await readLock(path);
    if (now?.text !== seen.text) return now === null;
    await unlink(path).catch((err: unknown) => {
      if (code(err) !== 'ENOENT') throw err;
    });
    return true;
  } finally {
    await unlink(guard).catch(() => {});
  }
}

/**
 * Runs fn while holding the lab's lock, so two commands never mutate one lab at once. The lock is
 * a file created exclusively that names its holder (pid, start time); a holder that died is
 * detected by pid and its lock taken over, atomically (see removeStale). Liveness, not mtime:
 * `up` holds the lock for minutes and a live holder must never look stale.
 */
export async function withLabLock<T>(
  paths: LabPaths,
  command: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const pollMs = opts.pollMs ?? 50;
  await ensurePrivateDir(paths.home);
  await ensurePrivateDir(paths.dir);
  const deadline = Date.now() + timeoutMs;
  const mine = await holderText(command);
  for (;;) {
    if (await createExclusive(paths.lock, mine)) break;
    const seen = await readLock(paths.lock);
    if (seen === null) continue; // released meanwhile: try again at once
    if (seen.holder && (await holderIsDead(seen.holder)) && (await removeStale(paths.lock, paths.lock, seen, command)))
      continue;
    if (Date.now() >= deadline) {
      const holder = seen.holder;
      const who = holder
        ? `pid ${holder.pid} (\`audit-lab ${holder.command}\`, since ${holder.since})`
        : 'another process';
      throw new RuntimeFailure(
        `lab ${JSON.stringify(paths.name)} is busy: ${who} holds ${paths.lock}`,
        holder
          ? `wait for it to finish and try again; if pid ${holder.pid} is not audit-lab, remove ${paths.lock}`
          : `wait and try again; if no audit-lab is running, remove ${paths.lock}`,
      );
    }
    // Jitter, so waiters that started together do not retry in lockstep.
    await new Promise((r) => setTimeout(r, pollMs * (0.5 + Math.random())));
  }
  try {
    return await fn();
  } finally {
    // Only remove the lock if it is still ours: nobody takes over from a live holder, but a file
    // removed by hand may since have been made by another command.
    const now = await readLock(paths.lock);
    if (now?.text === mine) {
      await unlink(paths.lock).catch((err: unknown) => {
        if (code(err) !== 'ENOENT') throw err;
      });
    }
  }
}
