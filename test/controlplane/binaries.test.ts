import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Binaries,
  binaryCacheDir,
  COMPONENTS,
  type DownloadProgress,
  etcdVersionFor,
  type FindBinaries,
  findBinaries,
  hostPlatform,
  normalizeVersion,
  planBinaries,
  releaseSource,
} from '../../src/controlplane/binaries.js';
import { RuntimeFailure, UserError } from '../../src/errors.js';
import { testDir } from '../harness/lab.js';
import {
  closedPort,
  fakeBinary,
  KUBE,
  type Release,
  type ReleaseServer,
  releaseEnv,
  serveRelease,
  sha256,
  startReleaseServer,
} from './releases.js';

const LINUX = { os: 'linux', arch: 'amd64' };

async function rejection<T extends Error>(p: Promise<unknown>, kind: new (...a: never[]) => T): Promise<T> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(kind);
  return err as T;
}

interface Setup {
  s: ReleaseServer;
  release: Release;
  cache: string;
  /** The directory the binaries go to. */
  dir: string;
  options: FindBinaries;
}

async function setup(): Promise<Setup> {
  const s = await startReleaseServer();
  const release = serveRelease(s);
  const cache = await testDir();
  const options: FindBinaries = {
    version: '1.37.2',
    binDir: null,
    env: releaseEnv(s, cache),
    ca: s.ca,
    platform: LINUX,
  };
  return { s, release, cache, dir: join(cache, 'bin', 'v1.37.2', 'linux-amd64'), options };
}

async function expectInstalled(b: Binaries, release: Release): Promise<void> {
  for (const c of COMPONENTS) {
    expect(b.path[c]).toBe(join(b.dir, c));
    expect(await readFile(b.path[c], 'utf8')).toBe(release.content[c]);
    expect((await stat(b.path[c])).mode & 0o777).toBe(0o755);
  }
}

/** What is in the cache directory other than the four binaries and the manifest: temp files, left behind. */
async function strays(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => !(COMPONENTS as readonly string[]).includes(n) && n !== 'manifest.json');
}

describe('downloading the binaries into the cache', () => {
  it('downloads all four, checks each against its checksum and reports progress', async () => {
    const { s, release, dir, options } = await setup();
    const plan = planBinaries(options);
    expect(plan.dir).toBe(dir);
    expect(s.hits).toEqual([]);
    const progress: DownloadProgress[] = [];
    const b = await findBinaries({ ...options, onProgress: (p) => progress.push(p) });
    expect(b).toMatchObject({ version: 'v1.37.2', etcdVersion: 'v3.7.0', dir, source: 'download' });
    await expectInstalled(b, release);
    expect((await stat(join(dir, '..', '..'))).mode & 0o777).toBe(0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await strays(dir)).toEqual([]);
    // Every file the plan named was fetched, with its checksum first, and nothing else.
    const expected = COMPONENTS.flatMap((c) => [release.paths[c]!.checksum, release.paths[c]!.file]);
    expect(s.hits).toEqual(expected);
    expect(plan.downloads).toEqual(
      COMPONENTS.map((c) => ({
        file: join(dir, c),
        url: s.url(release.paths[c]!.file),
        checksumUrl: s.url(release.paths[c]!.checksum),
      })),
    );
    // Progress: each file's bytes as they arrive, then once done with the whole length.
    const done = progress.filter((p) => p.done);
    expect(done.map((p) => p.file)).toEqual([release.archiveName, ...KUBE]);
    expect(done[0]).toEqual({
      file: release.archiveName,
      received: release.archive.length,
      total: release.archive.length,
      done: true,
    });
    for (const name of KUBE) {
      const size = Buffer.byteLength(release.content[name]!);
      expect(done.find((p) => p.file === name)).toEqual({ file: name, received: size, total: size, done: true });
      expect(progress.filter((p) => p.file === name && !p.done).length).toBeGreaterThan(0);
    }
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.files['kube-apiserver'].sha256).toBe(sha256(release.content['kube-apiserver']!));
    expect(manifest.files.etcd.sha256).toBe(sha256(release.archive));
  });

  it('uses the cache the second time without a request', async () => {
    const { s, release, dir, options } = await setup();
    await findBinaries(options);
    s.hits.length = 0;
    const before = await stat(join(dir, 'manifest.json'));
    const b = await findBinaries({ ...options, version: 'v1.37.2' });
    expect(b).toMatchObject({ version: 'v1.37.2', etcdVersion: 'v3.7.0', dir, source: 'cache' });
    await expectInstalled(b, release);
    expect(planBinaries(options).downloads).toEqual([]);
    expect(s.hits).toEqual([]);
    // Nothing written either: the manifest is the same file.
    expect((await stat(join(dir, 'manifest.json'))).ino).toBe(before.ino);
  });

  it('downloads only what a half-done cache lacks, and again a file whose size changed', async () => {
    const { s, release, dir, options } = await setup();
    await findBinaries(options);
    await rm(join(dir, 'kube-controller-manager'));
    s.hits.length = 0;
    expect(planBinaries(options).downloads.map((d) => d.file)).toEqual([join(dir, 'kube-controller-manager')]);
    const b = await findBinaries(options);
    expect(b.source).toBe('download');
    await expectInstalled(b, release);
    const kcm = release.paths['kube-controller-manager']!;
    expect(s.hits).toEqual([kcm.checksum, kcm.file]);

    await writeFile(join(dir, 'etcd'), '#!/bin/sh\n# cut short\n');
    s.hits.length = 0;
    expect((await findBinaries(options)).source).toBe('download');
    expect(s.hits).toEqual([release.paths.etcd!.checksum, release.paths.etcd!.file]);
    await expectInstalled(b, release);
  });

  it('writes the manifest again when it does not list all four', async () => {
    const { s, dir, options } = await setup();
    await findBinaries(options);
    const path = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(path, 'utf8'));
    delete manifest.files.etcd;
    await writeFile(path, JSON.stringify(manifest));
    s.hits.length = 0;
    expect((await findBinaries(options)).source).toBe('cache');
    expect(s.hits).toEqual([]);
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')).files)).toEqual([...COMPONENTS]);
  });

  it('uses four files put in the cache directory by hand, with no manifest, without a request', async () => {
    const { s, dir, options } = await setup();
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const c of COMPONENTS) await writeFile(join(dir, c), fakeBinary(c, 'Kubernetes v1.37.2', 0), { mode: 0o755 });
    const b = await findBinaries(options);
    expect(b.source).toBe('cache');
    expect(s.hits).toEqual([]);
    expect((await findBinaries(options)).source).toBe('cache');
  });

  it('keeps nothing of a file that does not match its checksum', async () => {
    const { s, release, dir, options } = await setup();
    const sched = release.paths['kube-scheduler']!;
    const wrong = sha256('something else');
    s.routes.set(sched.checksum, { body: `${wrong}  kube-scheduler\n` });
    const err = await rejection(findBinaries(options), RuntimeFailure);
    expect(err.message).toBe(
      `kube-scheduler downloaded from ${s.url(sched.file)} does not match its published checksum ` +
        `(${s.url(sched.checksum)}): expected ${wrong}, got ${sha256(release.content['kube-scheduler']!)}`,
    );
    expect(err.hint).toMatch(/--bin-dir/);
    expect(await readdir(dir)).not.toContain('kube-scheduler');
    expect(await readdir(dir)).not.toContain('manifest.json');
    expect(await strays(dir)).toEqual([]);

    // The etcd archive, checked before anything is taken out of it.
    await rm(dir, { recursive: true });
    s.routes.set(release.paths.etcd!.checksum, { body: `${wrong}  ${release.archiveName}\n` });
    const etcdErr = await rejection(findBinaries(options), RuntimeFailure);
    expect(etcdErr.message).toMatch(
      new RegExp(`^${release.archiveName.replace(/\./g, '\\.')} downloaded from .*expected ${wrong}`),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a SHA256SUMS that does not list the archive', async () => {
    const { s, release, dir, options } = await setup();
    s.routes.set(release.paths.etcd!.checksum, { body: `${sha256('x')}  etcd-v3.7.0-linux-arm64.tar.gz\n` });
    const err = await rejection(findBinaries(options), RuntimeFailure);
    expect(err.message).toBe(`${s.url(release.paths.etcd!.checksum)} lists no SHA-256 for ${release.archiveName}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('follows the redirects a release server answers with', async () => {
    const { s, release, options } = await setup();
    for (const name of KUBE) {
      const { file } = release.paths[name]!;
      s.routes.set(`/cdn${file}`, s.routes.get(file)!);
      s.routes.set(file, { location: `/cdn${file}`, status: 302 });
    }
    s.routes.set(release.paths.etcd!.file, { location: s.url('/objects/etcd.tar.gz'), status: 302 });
    s.routes.set('/objects/etcd.tar.gz', { body: release.archive });
    const b = await findBinaries(options);
    await expectInstalled(b, release);
    expect(s.hits).toContain('/cdn/k8s/v1.37.2/bin/linux/amd64/kube-apiserver');
    expect(s.hits).toContain('/objects/etcd.tar.gz');
  });

  it('names the URL that is not there and says how to do without the network', async () => {
    const { s, release, dir, options } = await setup();
    s.routes.delete(release.paths['kube-controller-manager']!.file);
    const err = await rejection(findBinaries(options), RuntimeFailure);
    expect(err.message).toBe(
      `could not download ${s.url(release.paths['kube-controller-manager']!.file)}: HTTP 404 Not Found`,
    );
    expect(err.hint).toBe(
      'put etcd (v3.7.0), kube-apiserver, kube-controller-manager and kube-scheduler (v1.37.2) for linux/amd64 ' +
        `in a directory and pass it with --bin-dir, or put them in ${dir}`,
    );
    expect(await readdir(dir)).not.toContain('kube-controller-manager');
    expect(await strays(dir)).toEqual([]);
  });

  it('names the URL when nothing answers', async () => {
    const cache = await testDir();
    const port = await closedPort();
    const err = await rejection(
      findBinaries({ version: null, binDir: null, env: releaseEnv({ port }, cache), platform: LINUX }),
      RuntimeFailure,
    );
    const url = `https://127.0.0.1:${port}/etcd/v3.7.0/SHA256SUMS`;
    expect(err.message.startsWith(`could not download ${url}: `)).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.hint).toContain('--bin-dir');
    expect(err.hint).toContain(join(cache, 'bin', 'v1.37.2', 'linux-amd64'));
  });

  it('lets two runs at once fill the same cache', async () => {
    const { release, dir, options } = await setup();
    const [a, b] = await Promise.all([findBinaries(options), findBinaries(options)]);
    await expectInstalled(a, release);
    expect(b.dir).toBe(a.dir);
    expect(await strays(dir)).toEqual([]);
    expect((await findBinaries(options)).source).toBe('cache');
  });

  it('refuses to download for macOS, where Kubernetes publishes no server binaries', async () => {
    const { s, options } = await setup();
    const err = await rejection(findBinaries({ ...options, platform: { os: 'darwin', arch: 'arm64' } }), UserError);
    expect(err.message).toMatch(/Linux only/);
    expect(err.hint).toMatch(/--bin-dir/);
    expect(() => planBinaries({ ...options, platform: { os: 'darwin', arch: 'arm64' } })).toThrow(UserError);
    expect(s.hits).toEqual([]);
  });
});

describe('--bin-dir', () => {
  async function binDir(version: string): Promise<string> {
    const dir = await testDir();
    for (const c of COMPONENTS)
      await writeFile(join(dir, c), fakeBinary(c, `Kubernetes ${version}`, 0), { mode: 0o755 });
    return dir;
  }
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

  it('uses the four there as they are, at the version kube-apiserver reports', async () => {
    const dir = await binDir('v1.18.19');
    for (const version of [null, '1.18.19', 'v1.18.19']) {
      const b = await findBinaries({ version, binDir: dir, env });
      expect(b).toEqual({
        version: 'v1.18.19',
        etcdVersion: null,
        dir,
        path: Object.fromEntries(COMPONENTS.map((c) => [c, join(dir, c)])),
        source: 'bin-dir',
      });
    }
    expect(planBinaries({ version: null, binDir: dir, env })).toEqual({ dir, downloads: [] });
    expect((await readdir(dir)).sort()).toEqual([...COMPONENTS].sort());
  });

  it('names each file missing or not executable', async () => {
    const dir = await binDir('v1.18.19');
    await rm(join(dir, 'kube-scheduler'));
    await chmod(join(dir, 'etcd'), 0o644);
    const err = await rejection(findBinaries({ version: 'v1.18.19', binDir: dir, env }), RuntimeFailure);
    expect(err.message).toBe(
      `--bin-dir ${dir} lacks what the binary provider runs: ${join(dir, 'etcd')} (not executable), ` +
        `${join(dir, 'kube-scheduler')} (missing)`,
    );
    expect(err.hint).toBe(
      `put etcd, kube-apiserver, kube-controller-manager and kube-scheduler for v1.18.19 in ${dir}, ` +
        'or leave --bin-dir out to download them',
    );
  });

  it('refuses binaries of another version than the one asked for', async () => {
    const dir = await binDir('v1.18.19');
    const err = await rejection(findBinaries({ version: '1.37.2', binDir: dir, env }), UserError);
    expect(err.message).toBe(`--bin-dir ${dir} holds Kubernetes v1.18.19, not the v1.37.2 asked for`);
  });

  it('refuses a kube-apiserver that prints no version, and a --bin-dir that is not a directory', async () => {
    const dir = await binDir('v1.18.19');
    await writeFile(join(dir, 'kube-apiserver'), '#!/bin/sh\necho hello\n');
    const err = await rejection(findBinaries({ version: null, binDir: dir, env }), RuntimeFailure);
    expect(err.message).toMatch(/printed no Kubernetes version: hello/);
    await writeFile(join(dir, 'kube-apiserver'), '#!/bin/sh\nexit 3\n');
    expect((await rejection(findBinaries({ version: null, binDir: dir, env }), RuntimeFailure)).message).toMatch(
      /failed: it exited with 3/,
    );
    await rejection(findBinaries({ version: null, binDir: join(dir, 'etcd'), env }), UserError);
  });
});

describe('where from and where to', () => {
  it('takes release URLs from the environment, https only', () => {
    expect(releaseSource({})).toEqual({
      kubernetes: 'https://dl.k8s.io/release',
      etcd: 'https://github.com/etcd-io/etcd/releases/download',
    });
    expect(
      releaseSource({
        AUDIT_LAB_KUBERNETES_RELEASE_URL: 'https://mirror.example/k8s/',
        AUDIT_LAB_ETCD_RELEASE_URL: 'https://mirror.example/etcd',
      }),
    ).toEqual({ kubernetes: 'https://mirror.example/k8s', etcd: 'https://mirror.example/etcd' });
    for (const bad of ['http://mirror.example/k8s', 'ftp://x/y', 'not a url']) {
      expect(() => releaseSource({ AUDIT_LAB_KUBERNETES_RELEASE_URL: bad })).toThrow(UserError);
      expect(() => releaseSource({ AUDIT_LAB_ETCD_RELEASE_URL: bad })).toThrow(UserError);
    }
  });

  it('refuses a non-https release URL before any request', async () => {
    const { s, options } = await setup();
    const env = { ...options.env, AUDIT_LAB_ETCD_RELEASE_URL: `http://127.0.0.1:${s.port}/etcd` };
    const err = await rejection(findBinaries({ ...options, env }), UserError);
    expect(err.message).toBe(`AUDIT_LAB_ETCD_RELEASE_URL must be an https URL, not "http://127.0.0.1:${s.port}/etcd"`);
    expect(s.hits).toEqual([]);
  });

  it('keeps the cache where the environment says', () => {
    expect(binaryCacheDir({ AUDIT_LAB_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }, 'linux')).toBe('/c/bin');
    expect(binaryCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' }, 'linux')).toBe('/x/audit-lab/bin');
    expect(binaryCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' }, 'linux')).toBe('/h/.cache/audit-lab/bin');
    expect(binaryCacheDir({ HOME: '/h' }, 'linux')).toBe('/h/.cache/audit-lab/bin');
    expect(binaryCacheDir({ HOME: '/h' }, 'darwin')).toBe('/h/Library/Caches/audit-lab/bin');
  });

  it('names platforms as releases do', () => {
    expect(hostPlatform('linux', 'x64')).toEqual({ os: 'linux', arch: 'amd64' });
    expect(hostPlatform('darwin', 'arm64')).toEqual({ os: 'darwin', arch: 'arm64' });
    expect(() => hostPlatform('win32', 'x64')).toThrow(UserError);
    expect(() => hostPlatform('linux', 'ia32')).toThrow(UserError);
  });

  it('puts the platform in the URLs', () => {
    const plan = planBinaries({
      version: 'v1.36.1',
      binDir: null,
      env: { AUDIT_LAB_CACHE_DIR: '/nonexistent/c' },
      platform: { os: 'linux', arch: 'arm64' },
    });
    expect(plan.dir).toBe('/nonexistent/c/bin/v1.36.1/linux-arm64');
    expect(plan.downloads.map((d) => d.url)).toEqual([
      'https://github.com/etcd-io/etcd/releases/download/v3.6.9/etcd-v3.6.9-linux-arm64.tar.gz',
      'https://dl.k8s.io/release/v1.36.1/bin/linux/arm64/kube-apiserver',
      'https://dl.k8s.io/release/v1.36.1/bin/linux/arm64/kube-controller-manager',
      'https://dl.k8s.io/release/v1.36.1/bin/linux/arm64/kube-scheduler',
    ]);
    expect(plan.downloads[0]!.checksumUrl).toBe('https://github.com/etcd-io/etcd/releases/download/v3.6.9/SHA256SUMS');
    expect(plan.downloads[1]!.checksumUrl).toBe(
      'https://dl.k8s.io/release/v1.36.1/bin/linux/arm64/kube-apiserver.sha256',
    );
  });

  it('accepts a version with or without its v, and nothing that is not one', () => {
    expect(normalizeVersion('1.18.19')).toBe('v1.18.19');
    expect(normalizeVersion('v1.37.0-rc.1')).toBe('v1.37.0-rc.1');
    for (const bad of ['', 'latest', '1.18', '../1.18.19', 'v1.18.19/../../x', 'v1.18.19 ']) {
      expect(() => normalizeVersion(bad)).toThrow(UserError);
    }
  });

  it('picks the etcd kubeadm pins for the Kubernetes minor', () => {
    expect(etcdVersionFor('1.18.19')).toBe('v3.4.3');
    expect(etcdVersionFor('v1.17.0')).toBe('v3.4.3');
    expect(etcdVersionFor('v1.16.15')).toBe('v3.3.17');
    expect(etcdVersionFor('v1.21.14')).toBe('v3.4.13');
    expect(etcdVersionFor('v1.33.5')).toBe('v3.5.24');
    expect(etcdVersionFor('v1.34.1')).toBe('v3.6.9');
    expect(etcdVersionFor('v1.37.2')).toBe('v3.7.0');
    // Past the table, its newest; before it, its oldest.
    expect(etcdVersionFor('v1.45.0')).toBe('v3.7.0');
    expect(etcdVersionFor('v1.9.0')).toBe('v3.2.24');
    expect(() => etcdVersionFor('nope')).toThrow(UserError);
  });
});
