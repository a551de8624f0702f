import type { FileHandle } from 'node:fs/promises';

/**
 * A crash can leave the last line half written: cut the file back to its last newline so readers
 * and the dedupe seed only ever see whole lines. Returns the size kept.
 */
export async function repairTornLine(fh: FileHandle): Promise<number> {
  const { size } = await fh.stat();
  if (size === 0) return 0;
  const chunk = 64 * 1024;
  let end = size;
  const buf = Buffer.alloc(chunk);
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) await fh.truncate(keep);
      return keep;
    }
    end = start;
  }
  await fh.truncate(0);
  return 0;
}
