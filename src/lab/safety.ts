/**
 * The lab directory holds keys, tokens and events, and `down --purge` deletes it: a symbolic link
 * anywhere the lab keeps its own files would send writes, reads and deletions somewhere the user
 * did not mean (or remove only the link while saying the keys are gone). So links there are
 * refused, with the path named; the lab home itself may be a link (a dotfile set-up often is).
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, rmdir, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { UserError } from '../errors.js';
import { escapeText } from '../ui/escape.js';
import type { LabPaths } from './paths.js';

function linkError(path: string): UserError {
  return new UserError(
    `${escapeText(path)} is a symbolic link: audit-lab does not follow links where a lab keeps its own files (state, keys, events)`,
    'put the real file or directory in place of the link (`mv` its target there), or set AUDIT_LAB_HOME to where the lab really is',
  );
}

/** Throws a UserError when `path` is a symbolic link; a missing path is fine. */
export async function refuseSymlink(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSymbolicLink()) throw linkError(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Whether `path` is a directory itself (a link to one is not); no throw when it is missing. */
export async function isRealDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every place of the lab that audit-lab reads, writes or deletes as its own: the lab directory,
 * its subdirectories and its files. Called before a command touches the lab, so nothing is done
 * half-way. Stream files inside streams/ are the writer's to check (it opens them O_NOFOLLOW).
 */
export async function refuseLabSymlinks(paths: LabPaths, extraFiles: readonly string[] = []): Promise<void> {
  await refuseSymlink(paths.dir);
  const inside = [
    paths.state,
    paths.lock,
    paths.kindConfig,
    paths.auditSinks,
    paths.apiserverDir,
    paths.policy,
    paths.webhookKubeconfig,
    paths.pkiDir,
    paths.policiesDir,
    paths.streamsDir,
    paths.receiverPid,
    paths.receiverLog,
    paths.forwarding,
    ...extraFiles,
  ];
  for (const p of inside) await refuseSymlink(p);
}

/** What a path that is not a regular file is, as a message names it. */
function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  return 'something else';
}

function notRegularError(path: string, st: Stats): UserError {
  return new UserError(
    `${escapeText(path)} is ${fileKind(st)}, not a regular file: audit-lab reads only regular files where a lab keeps its own files (state, keys, events)`,
    'remove it; what audit-lab keeps there it writes as a regular file',
  );
}

/**
 * Opens one of the lab's own files for reading, only as the regular file it should be: never
 * through a symbolic link at its last component (O_NOFOLLOW: no window between a check and the
 * open), and without waiting on a FIFO (O_NONBLOCK: its open returns at once instead of blocking
 * until a writer comes, and fstat then refuses it). A link or any other kind of file is a
 * UserError naming it; ENOENT and other errors are the caller's.
 */
export async function openOwnFile(path: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP on Linux and macOS, EMLINK on FreeBSD; a socket cannot be opened at all (ENXIO).
    const st = code === 'ELOOP' || code === 'EMLINK' || code === 'ENXIO' ? await lstat(path).catch(() => null) : null;
    if (st?.isSymbolicLink()) throw linkError(path);
    if (st !== null && !st.isFile()) throw notRegularError(path, st);
    throw err;
  }
  const st = await fh.stat();
  if (st.isFile()) return fh;
  await fh.close();
  throw notRegularError(path, st);
}

/** Reads one of the lab's own files whole, as openOwnFile opens it. */
export async function readFileNoFollow(path: string): Promise<string> {
  const fh = await openOwnFile(path);
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

export interface Removed {
  /** Paths relative to the removed directory, files and links, sorted; directories end with the separator. */
  entries: string[];
  /** Of those, the symbolic links: each link was removed, never what it pointed to. */
  links: string[];
}

/**
 * Removes a directory tree without following any link in it, and says what it removed: every
 * file, link and directory, as found by lstat. The directory itself must not be a link.
 */
export async function removeTree(dir: string): Promise<Removed> {
  if (!(await isRealDir(dir))) throw new Error(`removeTree: ${dir} is not a directory`);
  const entries: string[] = [];
  const links: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        await walk(p);
        await rmdir(p);
        entries.push(rel + sep);
      } else {
        // unlink, never rm -r: a link goes, its target stays.
        await unlink(p);
        entries.push(rel);
        if (e.isSymbolicLink()) links.push(rel);
      }
    }
  };
  await walk(dir);
  await rmdir(dir);
  return { entries: entries.sort(), links: links.sort() };
}
