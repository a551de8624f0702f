import { open } from 'node:fs/promises';

/**
 * The last `lines` lines of a log from byte `from` on (what a process wrote since it was started,
 * for the message saying it failed), at most its last 16 KiB; '' when there is nothing or the log
 * cannot be read.
 */
export async function logTail(path: string, from: number, lines = 15): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(from, size - 16 * 1024);
      if (start >= size) return '';
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}
