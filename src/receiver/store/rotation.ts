import { rename, rm } from 'node:fs/promises';
import { rotatedStreamFile } from '../../streams/names.js';

/**
 * Makes room for a new <stem>.log at `path`: <stem>.log.(N-1) -> .N ... <stem>.log -> .1, the
 * oldest beyond `maxBackups` removed (with none kept, <stem>.log itself). The caller has closed
 * the file and makes the renames durable.
 */
export async function shiftRotated(path: string, maxBackups: number): Promise<void> {
  const max = maxBackups;
  if (max <= 0) {
    await rm(path, { force: true });
    return;
  }
  await rm(rotatedStreamFile(path, max), { force: true });
  for (let i = max - 1; i >= 1; i--) {
    // rename() moves a link itself, never what it points to.
    await rename(rotatedStreamFile(path, i), rotatedStreamFile(path, i + 1)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  await rename(path, rotatedStreamFile(path, 1));
}
