import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Makes `dir`, and any missing parent, private to the user (0700). A directory that already exists
 * is left as it is: its mode is its owner's choice (`render --out /tmp` must not lock everyone
 * else out of /tmp, nor a command change the mode of an AUDIT_LAB_HOME the user made). The mode is
 * returned (permission bits) so that a caller about to put a secret there can say when others can
 * look in.
 */
export async function ensurePrivateDir(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return (await stat(dir)).mode & 0o7777;
}

/** Whether users other than the owner may list, enter or write a directory of this mode. */
export function openToOthers(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/**
 * Writes a file so that readers see the old content or the new, never a mix: a temp file in the
 * same directory, fsync, rename over, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await placeAtomic(path, data, mode, rename);
}

/**
 * As writeFileAtomic, but only when `path` does not exist yet: false (and nothing written) when it
 * does. For a file that another process may have written meanwhile with more in it.
 */
export async function createFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<boolean> {
  try {
    // A hard link fails when the name is taken, where rename would replace it.
    await placeAtomic(path, data, mode, async (tmp, to) => {
      await link(tmp, to);
      await rm(tmp, { force: true });
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function placeAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number,
  place: (tmp: string, path: string) => Promise<void>,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  // The mode given to open() is masked by the umask; set it exactly.
  await chmod(tmp, mode);
  try {
    await place(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
