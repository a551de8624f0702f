/** Stream files are never written or read through a symbolic link. */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';

/** A stream path that is a symbolic link: the receiver never writes through one. */
export class StreamLinkError extends Error {
  constructor(readonly path: string) {
    super(
      `stream file ${path} is a symbolic link; the receiver does not write through links: remove it (its sink's events go to a new file)`,
    );
  }
}

/** Opens a stream path without following a link; a link is a StreamLinkError. */
export async function openNoFollow(path: string, flags: number, mode?: number): Promise<FileHandle> {
  try {
    return await open(path, flags | constants.O_NOFOLLOW, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP on Linux and macOS, EMLINK on FreeBSD.
    if ((code === 'ELOOP' || code === 'EMLINK') && (await lstat(path).catch(() => null))?.isSymbolicLink())
      throw new StreamLinkError(path);
    throw err;
  }
}
