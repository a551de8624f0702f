import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type DownloadProgress,
  downloadToTemp,
  fetchText,
  parseSha256File,
  parseSha256Sums,
  placeExecutable,
} from '../../src/controlplane/download.js';
import { extractTarGzMember } from '../../src/controlplane/tarball.js';
import { RuntimeFailure } from '../../src/errors.js';
import { createCa } from '../../src/lab/pkiIssuer.js';
import { testDir } from '../harness/lab.js';
import { closedPort, paxPath, sha256, startReleaseServer, tar } from './releases.js';

async function failure(p: Promise<unknown>): Promise<RuntimeFailure> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RuntimeFailure);
  return err as RuntimeFailure;
}

describe('fetching over https', () => {
  it('follows relative and absolute redirects to the answer', async () => {
    const s = await startReleaseServer();
    s.routes.set('/a', { location: '/b', status: 301 });
    s.routes.set('/b', { location: s.url('/c'), status: 307 });
    s.routes.set('/c', { body: 'the text\n' });
    expect(await fetchText(s.url('/a'), { ca: s.ca })).toBe('the text\n');
    expect(s.hits).toEqual(['/a', '/b', '/c']);
  });

  it('follows five redirects and refuses a sixth', async () => {
    const s = await startReleaseServer();
    for (let i = 0; i < 6; i++) s.routes.set(`/r${i}`, { location: `/r${i + 1}` });
    s.routes.set('/r6', { body: 'end' });
    expect(await fetchText(s.url('/r1'), { ca: s.ca })).toBe('end');
    s.hits.length = 0;
    const err = await failure(fetchText(s.url('/r0'), { ca: s.ca, hint: 'the hint' }));
    expect(err.message).toBe(`could not download ${s.url('/r0')}: more than 5 redirects`);
    expect(err.hint).toBe('the hint');
    expect(s.hits).toEqual(['/r0', '/r1', '/r2', '/r3', '/r4', '/r5']);
  });

  it('refuses a redirect to http, and an http URL', async () => {
    const s = await startReleaseServer();
    s.routes.set('/a', { location: `http://127.0.0.1:${s.port}/b` });
    const err = await failure(fetchText(s.url('/a'), { ca: s.ca }));
    expect(err.message).toMatch(/^could not download https:\/\/127\.0\.0\.1:\d+\/a: redirected to http:.*not https$/);
    expect(s.hits).toEqual(['/a']);
    const plain = await failure(fetchText(`http://127.0.0.1:${s.port}/a`, { ca: s.ca }));
    expect(plain.message).toMatch(/only https/);
  });

  it('names the URL and the status of a 404, and the redirect it came through', async () => {
    const s = await startReleaseServer();
    s.routes.set('/moved', { location: '/gone' });
    const err = await failure(fetchText(s.url('/moved'), { ca: s.ca }));
    expect(err.message).toBe(
      `could not download ${s.url('/moved')}: HTTP 404 Not Found (redirected to ${s.url('/gone')})`,
    );
  });

  it('names the URL and the reason when nothing listens', async () => {
    const port = await closedPort();
    const url = `https://127.0.0.1:${port}/x.sha256`;
    const err = await failure(fetchText(url, { hint: 'use --bin-dir' }));
    expect(err.message).toMatch(new RegExp(`^could not download ${url.replace(/\./g, '\\.')}: .*ECONNREFUSED`));
    expect(err.hint).toBe('use --bin-dir');
  });

  it('gives up on a server that answers nothing, or stops in the middle of the body', async () => {
    const s = await startReleaseServer();
    const dir = await testDir();
    s.routes.set('/silent', { stallAfter: 0 });
    s.routes.set('/stalls', { body: Buffer.alloc(100_000, 'c'), stallAfter: 1000 });
    const silent = await failure(fetchText(s.url('/silent'), { ca: s.ca, idleTimeoutMs: 200 }));
    expect(silent.message).toBe(`could not download ${s.url('/silent')}: nothing received for 0.2s`);
    const progress: DownloadProgress[] = [];
    const stalled = await failure(
      downloadToTemp(s.url('/stalls'), join(dir, 'f'), {
        ca: s.ca,
        idleTimeoutMs: 200,
        file: 'f',
        onProgress: (p) => progress.push(p),
      }),
    );
    expect(stalled.message.startsWith(`could not download ${s.url('/stalls')}: `)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ received: 1000, total: 100_000, done: false });
    expect(await readdir(dir)).toEqual([]);
  });

  it('trusts the extra CA it is given, and not a server without it', async () => {
    const s = await startReleaseServer();
    s.routes.set('/t', { body: 'ok' });
    const err = await failure(fetchText(s.url('/t')));
    expect(err.message).toMatch(/certificate/);
    const other = await createCa('another');
    expect((await failure(fetchText(s.url('/t'), { ca: other.cert }))).message).toMatch(/certificate/);
    expect(s.hits).toEqual([]);
    expect(await fetchText(s.url('/t'), { ca: s.ca })).toBe('ok');
  });
});

describe('downloading a file', () => {
  it('streams it to a temp file beside the target, hashing and reporting progress', async () => {
    const s = await startReleaseServer();
    const dir = await testDir();
    const body = Buffer.alloc(300_000, 'a');
    s.routes.set('/big', { body, chunked: true });
    const progress: DownloadProgress[] = [];
    const target = join(dir, 'kube-apiserver');
    const got = await downloadToTemp(s.url('/big'), target, {
      ca: s.ca,
      file: 'kube-apiserver',
      onProgress: (p) => progress.push(p),
    });
    expect(got.sha256).toBe(sha256(body));
    expect(got.size).toBe(body.length);
    expect(got.tmp.startsWith(join(dir, '.kube-apiserver.'))).toBe(true);
    expect(await readFile(got.tmp)).toEqual(body);
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual({ file: 'kube-apiserver', received: body.length, total: null, done: true });
    expect(progress.filter((p) => p.done)).toHaveLength(1);
    const received = progress.map((p) => p.received);
    expect([...received].sort((a, b) => a - b)).toEqual(received);
    await placeExecutable(got.tmp, target);
    expect((await stat(target)).mode & 0o777).toBe(0o755);
    expect(await readdir(dir)).toEqual(['kube-apiserver']);
  });

  it('gives the total when the server sends a length', async () => {
    const s = await startReleaseServer();
    const dir = await testDir();
    s.routes.set('/f', { body: 'x'.repeat(1000) });
    const progress: DownloadProgress[] = [];
    await downloadToTemp(s.url('/f'), join(dir, 'f'), { ca: s.ca, file: 'f', onProgress: (p) => progress.push(p) });
    expect(progress.every((p) => p.total === 1000)).toBe(true);
    expect(progress.at(-1)?.done).toBe(true);
  });

  it('leaves nothing behind when the answer is cut short', async () => {
    const s = await startReleaseServer();
    const dir = await testDir();
    s.routes.set('/cut', { body: Buffer.alloc(200_000, 'b'), cutAfter: 50_000 });
    const err = await failure(downloadToTemp(s.url('/cut'), join(dir, 'etcd'), { ca: s.ca, file: 'etcd' }));
    expect(err.message.startsWith(`could not download ${s.url('/cut')}: `)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('checksum files', () => {
  it('reads a .sha256 file: the digest, maybe followed by a name', () => {
    const d = sha256('x');
    expect(parseSha256File(`${d}\n`)).toBe(d);
    expect(parseSha256File(`${d.toUpperCase()}  kube-apiserver\n`)).toBe(d);
    expect(parseSha256File('not a digest\n')).toBeNull();
    expect(parseSha256File(`${d}0`)).toBeNull();
  });

  it('reads the line of a file in SHA256SUMS', () => {
    const a = sha256('a');
    const b = sha256('b');
    const sums = `${a}  etcd-v3.7.0-linux-amd64.tar.gz.sig\n${b}  etcd-v3.7.0-linux-amd64.tar.gz\n`;
    expect(parseSha256Sums(sums, 'etcd-v3.7.0-linux-amd64.tar.gz')).toBe(b);
    expect(parseSha256Sums(`${a} *./etcd.tar.gz\r\n`, 'etcd.tar.gz')).toBe(a);
    expect(parseSha256Sums(sums, 'etcd-v3.7.0-linux-arm64.tar.gz')).toBeNull();
  });
});

describe('taking one file out of a .tar.gz', () => {
  async function archive(dir: string, entries: Parameters<typeof tar>[0]): Promise<string> {
    const path = join(dir, 'a.tar.gz');
    await writeFile(path, gzipSync(tar(entries)));
    return path;
  }

  it('writes the member asked for and nothing else', async () => {
    const dir = await testDir();
    const big = Buffer.alloc(70_000, 'e');
    const path = await archive(dir, [
      { name: 'etcd-v3.7.0-linux-amd64/', type: '5' },
      { name: 'etcd-v3.7.0-linux-amd64/etcdctl', body: 'ctl' },
      { name: 'etcd-v3.7.0-linux-amd64/etcd-link', type: '2', linkname: '/etc/passwd' },
      { name: './etcd-v3.7.0-linux-amd64/etcd', body: big },
      { name: 'etcd-v3.7.0-linux-amd64/etcdutl', body: 'utl' },
    ]);
    await extractTarGzMember(path, 'etcd-v3.7.0-linux-amd64/etcd', join(dir, 'out'));
    expect(await readFile(join(dir, 'out'))).toEqual(big);
    expect((await readdir(dir)).sort()).toEqual(['a.tar.gz', 'out']);
  });

  it('finds a member by its pax path or its ustar prefix', async () => {
    const dir = await testDir();
    const long = `${'d'.repeat(120)}/etcd`;
    const pax = await archive(dir, [paxPath(long), { name: 'short-name', body: 'by pax' }]);
    await extractTarGzMember(pax, long, join(dir, 'pax'));
    expect(await readFile(join(dir, 'pax'), 'utf8')).toBe('by pax');
    const prefixed = join(dir, 'b.tar.gz');
    await writeFile(prefixed, gzipSync(tar([{ prefix: 'd'.repeat(120), name: 'etcd', body: 'by prefix' }])));
    await extractTarGzMember(prefixed, long, join(dir, 'prefix'));
    expect(await readFile(join(dir, 'prefix'), 'utf8')).toBe('by prefix');
  });

  it('refuses an archive without the member, with it as a link, or broken, and leaves no file', async () => {
    const dir = await testDir();
    const out = join(dir, 'out');
    const none = await archive(dir, [{ name: 'etcd-v1/etcdctl', body: 'x' }]);
    const err = await failure(extractTarGzMember(none, 'etcd-v1/etcd', out, 'https://x/etcd.tar.gz'));
    expect(err.message).toBe('could not take etcd-v1/etcd out of https://x/etcd.tar.gz: it holds no etcd-v1/etcd');
    const link = await archive(dir, [{ name: 'etcd-v1/etcd', type: '2', linkname: '/bin/sh' }]);
    expect((await failure(extractTarGzMember(link, 'etcd-v1/etcd', out))).message).toMatch(/not a regular file/);
    const tarball = tar([{ name: 'etcd-v1/etcd', body: 'x' }]);
    tarball[150] = 0x37; // the header checksum no longer adds up
    await writeFile(join(dir, 'bad.tar.gz'), gzipSync(tarball));
    const bad = await failure(extractTarGzMember(join(dir, 'bad.tar.gz'), 'etcd-v1/etcd', out));
    expect(bad.message).toMatch(/bad checksum/);
    await writeFile(join(dir, 'junk.tar.gz'), 'not gzip at all');
    await failure(extractTarGzMember(join(dir, 'junk.tar.gz'), 'etcd-v1/etcd', out));
    const truncated = gzipSync(tar([{ name: 'etcd-v1/etcd', body: Buffer.alloc(5000) }]).subarray(0, 2048));
    await writeFile(join(dir, 'short.tar.gz'), truncated);
    expect((await failure(extractTarGzMember(join(dir, 'short.tar.gz'), 'etcd-v1/etcd', out))).message).toMatch(
      /ends inside/,
    );
    expect((await readdir(dir)).filter((f) => !f.endsWith('.tar.gz'))).toEqual([]);
  });
});
