/**
 * Fetching release files over HTTPS, with node:https and nothing else: redirects followed (at most
 * five, https only), a timeout on a connection that stays silent, the body streamed to a temp file
 * and hashed (SHA-256) as it arrives, and a published checksum read and compared. Nothing here
 * decides which files or where they go: binaries.ts does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, open, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { get } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { RuntimeFailure } from '../errors.js';

export interface DownloadProgress {
  file: string;
  received: number;
  total: number | null;
  done: boolean;
}

export interface HttpOptions {
  /** Extra CA (PEM) trusted besides the system's roots. */
  ca?: string;
  /** A connection silent this long (connecting, or between bytes of the answer) is given up. */
  idleTimeoutMs?: number;
  /** The hint of the RuntimeFailure a failed download throws: what to do without the network. */
  hint?: string;
}

export const MAX_REDIRECTS = 5;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** A checksum file is a line or a few dozen: more is not one. */
const MAX_TEXT_BYTES = 256 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A URL failed to download: "could not download <url>: <reason>", with the caller's hint. */
export function downloadFailure(url: string, reason: string, hint?: string): RuntimeFailure {
  return new RuntimeFailure(`could not download ${url}: ${reason}`, hint);
}

function reasonOf(err: unknown): string {
  if (err instanceof RuntimeFailure) return err.message;
  const e = err as NodeJS.ErrnoException;
  return e?.message ? e.message : String(err);
}

/** One GET, no redirect followed: the answer, whatever its status. */
function getOnce(url: URL, o: HttpOptions): Promise<IncomingMessage> {
  const idle = o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = get(
      url,
      {
        // No pooled socket: each file is one connection, closed when its answer ends.
        agent: false,
        timeout: idle,
        headers: { 'user-agent': 'audit-lab', accept: '*/*' },
        ...(o.ca !== undefined ? { ca: [...rootCertificates, o.ca] } : {}),
      },
      resolve,
    );
    // The socket's idle timer runs on through the body, so a stalled answer fails too.
    req.on('timeout', () => req.destroy(new Error(`nothing received for ${idle / 1000}s`)));
    req.on('error', reject);
  });
}

/**
 * GETs `url`, following redirects (https only, at most MAX_REDIRECTS), and returns the 200 answer
 * still unread. Any other status, or a network error, rejects with the reason (not yet wrapped).
 */
async function getFollowing(url: string, o: HttpOptions): Promise<IncomingMessage> {
  let at = new URL(url);
  for (let hops = 0; ; hops++) {
    if (at.protocol !== 'https:') throw new Error(`refusing ${at.protocol.replace(/:$/, '')}: only https is used`);
    const res = await getOnce(at, o);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status) && res.headers.location !== undefined) {
      res.resume();
      if (hops >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(res.headers.location, at);
      if (next.protocol !== 'https:') throw new Error(`redirected to ${next.href}, which is not https`);
      at = next;
      continue;
    }
    if (status !== 200) {
      res.resume();
      const via = at.href === url ? '' : ` (redirected to ${at.href})`;
      throw new Error(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}${via}`);
    }
    return res;
  }
}

/** A small text file (a checksum list), as text. */
export async function fetchText(url: string, o: HttpOptions = {}): Promise<string> {
  try {
    const res = await getFollowing(url, o);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_TEXT_BYTES) {
        res.destroy();
        throw new Error(`more than ${MAX_TEXT_BYTES} bytes, not a checksum file`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    throw downloadFailure(url, reasonOf(err), o.hint);
  }
}

/** A name for a temp file next to `path`, unique to this process and call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export interface Downloaded {
  /** The temp file the body was written to (0600, synced); the caller places or removes it. */
  tmp: string;
  sha256: string;
  size: number;
}

/**
 * Streams `url` to a new temp file beside `path` (never to `path` itself), hashing as it goes, and
 * reports progress as `file`. On any failure the temp file is removed and a RuntimeFailure "could
 * not download" thrown: nothing is left behind.
 */
export async function downloadToTemp(
  url: string,
  path: string,
  o: HttpOptions & { file: string; onProgress?: (p: DownloadProgress) => void },
): Promise<Downloaded> {
  const tmp = tempPathFor(path);
  const hash = createHash('sha256');
  let received = 0;
  let total: number | null = null;
  try {
    const res = await getFollowing(url, o);
    const length = Number(res.headers['content-length']);
    total = Number.isSafeInteger(length) && length >= 0 ? length : null;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        hash.update(chunk);
        received += chunk.length;
        await fh.write(chunk);
        o.onProgress?.({ file: o.file, received, total, done: false });
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw downloadFailure(url, reasonOf(err), o.hint);
  }
  o.onProgress?.({ file: o.file, received, total, done: true });
  return { tmp, sha256: hash.digest('hex'), size: received };
}

const SHA256 = /^[0-9a-f]{64}$/;

/** The hex digest in a `.sha256` file: the digest, possibly followed by whitespace and a file name. */
export function parseSha256File(text: string): string | null {
  const first = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  return SHA256.test(first) ? first : null;
}

/** The digest SHA256SUMS (lines `<hex>  <name>`, `*<name>` in binary mode) gives for `name`. */
export function parseSha256Sums(text: string, name: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(?:\.\/)?(\S.*?)\s*$/.exec(line);
    if (m && m[2] === name) return m[1]!.toLowerCase();
  }
  return null;
}

/**
 * Makes a verified temp file the executable at `path`: 0755, then renamed over it in one step, so
 * a reader (another `up` at the same time) sees no file or the whole one, never part of it.
 */
export async function placeExecutable(tmp: string, path: string): Promise<void> {
  try {
    await chmod(tmp, 0o755);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new RuntimeFailure(
      `could not put ${basename(path)} in ${dirname(path)}: ${reasonOf(err)}`,
      `check that ${dirname(path)} is writable and has room`,
    );
  }
}
