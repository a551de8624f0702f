/**
 * Taking one regular file out of a .tar.gz (etcd's release archive) with node:zlib and a minimal
 * tar reader: ustar and GNU headers, a pax or GNU long name, the header checksum checked. It writes
 * exactly one file, the member asked for, to the path given; every other entry (directories,
 * links, other files) is read past and never written, so no name in the archive decides a path on
 * disk.
 */
import { open, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { RuntimeFailure } from '../errors.js';

const BLOCK = 512;
/** A pax header or GNU long name larger than this is not one a release archive has. */
const MAX_META_BYTES = 1024 * 1024;

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const next = await this.it.next();
      if (next.done) return false;
      this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    }
    return true;
  }

  /** Exactly n bytes, or null at the end of the stream (a short tail counts as the end). */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next n bytes as they come, in pieces; throws if the stream ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw new Error('the archive ends inside an entry');
      const piece = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // read past
    }
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

interface TarHeader {
  name: string;
  size: number;
  type: string;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString('utf8');
}

function numberField(b: Buffer): number {
  // GNU base-256 for sizes that do not fit in octal: the high bit of the first byte set.
  if ((b[0]! & 0x80) !== 0) {
    let n = b[0]! & 0x7f;
    for (const byte of b.subarray(1)) n = n * 256 + byte;
    if (!Number.isSafeInteger(n)) throw new Error('an entry size out of range');
    return n;
  }
  const text = cString(b).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`a bad number field ${JSON.stringify(text)} in a tar header`);
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function parseHeader(block: Buffer): TarHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (numberField(block.subarray(148, 156)) !== sum) throw new Error('a tar header with a bad checksum');
  const name = cString(block.subarray(0, 100));
  // POSIX ustar keeps the start of a long name in `prefix`; GNU ("ustar  ") uses those bytes otherwise.
  const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? cString(block.subarray(345, 500)) : '';
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size: numberField(block.subarray(124, 136)),
    type: String.fromCharCode(block[156]!),
  };
}

/** The `path` record of a pax extended header (records "<len> key=value\n"). */
function paxPath(data: Buffer): string | null {
  let at = 0;
  let path: string | null = null;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const len = Number.parseInt(data.subarray(at, space).toString('latin1'), 10);
    if (space === -1 || !Number.isSafeInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    if (record.startsWith('path=')) path = record.slice('path='.length);
    at += len;
  }
  return path;
}

function normalizeName(name: string): string {
  return name.replace(/^(\.\/)+/, '');
}

const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

/**
 * Finds `member` and writes its bytes to the file handle's writer. Returns false when the archive
 * ends without it.
 */
async function copyMember(r: ByteReader, member: string, write: (b: Buffer) => Promise<void>): Promise<boolean> {
  let longName: string | null = null;
  for (;;) {
    const block = await r.read(BLOCK);
    if (block === null || block.every((b) => b === 0)) return false;
    const h = parseHeader(block);
    if (h.type === 'x' || h.type === 'L') {
      if (h.size > MAX_META_BYTES) throw new Error(`a ${h.size}-byte extended header`);
      const data = (await r.read(padded(h.size)))?.subarray(0, h.size);
      if (!data) throw new Error('the archive ends inside an extended header');
      longName = h.type === 'L' ? cString(data) : (paxPath(data) ?? longName);
      continue;
    }
    const name = normalizeName(longName ?? h.name);
    longName = null;
    if (name !== member) {
      await r.skip(padded(h.size));
      continue;
    }
    if (h.type !== '0' && h.type !== '\0' && h.type !== '7') {
      throw new Error(`${member} is not a regular file in the archive (tar type ${JSON.stringify(h.type)})`);
    }
    for await (const piece of r.take(h.size)) await write(piece);
    return true;
  }
}

/**
 * Writes the regular file `member` (e.g. "etcd-v3.7.0-linux-amd64/etcd") of the gzipped tar
 * `archive` to `dest`, a new file (0600; the caller makes it executable and moves it into place).
 * An archive without it, or one that cannot be read, is a RuntimeFailure naming `from` (where the
 * archive came from) and `dest` is removed.
 */
export async function extractTarGzMember(archive: string, member: string, dest: string, from = archive): Promise<void> {
  const file = createReadStream(archive);
  const gunzip = createGunzip();
  file.on('error', (err) => gunzip.destroy(err));
  const r = new ByteReader(file.pipe(gunzip)[Symbol.asyncIterator]());
  const fh = await open(dest, 'wx', 0o600);
  let found = false;
  let failure: unknown = null;
  try {
    found = await copyMember(r, normalizeName(member), async (b) => {
      await fh.write(b);
    });
    if (found) await fh.sync();
  } catch (err) {
    failure = err;
  } finally {
    await fh.close();
    await r.close();
    file.destroy();
    gunzip.destroy();
  }
  if (found && failure === null) return;
  await rm(dest, { force: true });
  const why = failure === null ? `it holds no ${member}` : (failure as Error).message;
  throw new RuntimeFailure(
    `could not take ${member} out of ${from}: ${why}`,
    'the archive is not the release archive expected; report this with the URL it came from',
  );
}
