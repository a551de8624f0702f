/**
 * The four programs the binary provider runs (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler): from the user's --bin-dir as they are, or from the cache, or downloaded into it
 * from the Kubernetes and etcd releases, each checked against its published SHA-256 before it is
 * put in place.
 *
 * The cache is `<binaryCacheDir>/<version>/<os>-<arch>/`. A file gets there only by an atomic
 * rename of a verified download (or the user puts it there), so a file that is there is whole; a
 * manifest written once all four are there marks the set complete and records each file's size,
 * and a file whose size differs from it is fetched again. Two runs at once each download to their
 * own temp names and rename over the same final names: the last rename wins, with the same bytes.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { RuntimeFailure, UserError } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { createRunner } from '../tools/run.js';
import {
  type DownloadProgress,
  downloadToTemp,
  fetchText,
  type HttpOptions,
  parseSha256File,
  parseSha256Sums,
  placeExecutable,
  tempPathFor,
} from './download.js';
import { extractTarGzMember } from './tarball.js';

export type { DownloadProgress } from './download.js';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Component = (typeof COMPONENTS)[number];
/** The version `up --provider binary` uses when none is given and no --bin-dir: 'v1.37.2'. */
export const DEFAULT_BINARY_VERSION = 'v1.37.2';

export interface Binaries {
  /** Kubernetes version, 'v1.37.2'. */
  version: string;
  /** 'v3.7.0' when known (cache or download), null from --bin-dir. */
  etcdVersion: string | null;
  /** Where they are. */
  dir: string;
  /** The absolute path of each. */
  path: Record<Component, string>;
  source: 'bin-dir' | 'cache' | 'download';
}

/** Base URLs of the releases, https only. */
export interface ReleaseSource {
  kubernetes: string;
  etcd: string;
}

/** os 'linux' | 'darwin', arch 'amd64' | 'arm64'. */
export interface Platform {
  os: string;
  arch: string;
}

export interface FindBinaries {
  /** 'v1.18.19' or '1.18.19' (normalized to a leading v); null: DEFAULT_BINARY_VERSION, or --bin-dir's. */
  version: string | null;
  binDir: string | null;
  env: NodeJS.ProcessEnv;
  onProgress?: (p: DownloadProgress) => void;
  /** Extra CA (PEM) trusted for downloads: tests serve releases from a local HTTPS server. */
  ca?: string;
  /** The platform to get binaries for (default: this machine's, hostPlatform()). */
  platform?: Platform;
}

export type PlanOptions = Omit<FindBinaries, 'onProgress' | 'ca'>;

export interface BinaryPlan {
  dir: string;
  downloads: { file: string; url: string; checksumUrl: string }[];
}

const OSES: Record<string, string> = { linux: 'linux', darwin: 'darwin' };
const ARCHES: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** This machine's platform in release names; anything but linux/darwin on amd64/arm64 is refused. */
export function hostPlatform(platform: string = process.platform, arch: string = process.arch): Platform {
  const os = OSES[platform];
  const a = ARCHES[arch];
  if (os === undefined || a === undefined) {
    throw new UserError(
      `the binary provider runs on Linux and macOS, on amd64 or arm64; this machine is ${platform}/${arch}`,
      'use the kind provider here (leave --provider out)',
    );
  }
  return { os, arch: a };
}

function absoluteFromEnv(value: string | undefined): string | null {
  return value !== undefined && value !== '' ? resolve(value) : null;
}

/**
 * Where downloaded binaries are kept: $AUDIT_LAB_CACHE_DIR/bin, else $XDG_CACHE_HOME/audit-lab/bin,
 * else ~/.cache/audit-lab/bin (macOS: ~/Library/Caches/audit-lab/bin).
 */
export function binaryCacheDir(env: NodeJS.ProcessEnv, platform: string = process.platform): string {
  const own = absoluteFromEnv(env.AUDIT_LAB_CACHE_DIR);
  if (own !== null) return join(own, 'bin');
  // The XDG spec has a relative value ignored.
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'audit-lab', 'bin');
  const home = env.HOME !== undefined && isAbsolute(env.HOME) ? env.HOME : homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'audit-lab', 'bin');
  return join(home, '.cache', 'audit-lab', 'bin');
}

const KUBERNETES_RELEASES = 'https://dl.k8s.io/release';
const ETCD_RELEASES = 'https://github.com/etcd-io/etcd/releases/download';

function httpsBase(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (url === null || url.protocol !== 'https:') {
    throw new UserError(
      `${name} must be an https URL, not ${JSON.stringify(raw)}`,
      `release files are fetched over https only: serve them over https, or unset ${name} to use ${fallback}`,
    );
  }
  return raw.replace(/\/+$/, '');
}

/** The release base URLs: upstream's, or AUDIT_LAB_KUBERNETES_RELEASE_URL / AUDIT_LAB_ETCD_RELEASE_URL. */
export function releaseSource(env: NodeJS.ProcessEnv): ReleaseSource {
  return {
    kubernetes: httpsBase(env, 'AUDIT_LAB_KUBERNETES_RELEASE_URL', KUBERNETES_RELEASES),
    etcd: httpsBase(env, 'AUDIT_LAB_ETCD_RELEASE_URL', ETCD_RELEASES),
  };
}

const VERSION = /^v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(-[0-9A-Za-z.-]{1,64})?$/;

/**
 * A Kubernetes version as releases name it: 'v1.18.19' from '1.18.19' or 'v1.18.19'. Anything
 * else is refused: it becomes part of a URL and of a directory name.
 */
export function normalizeVersion(version: string): string {
  if (!VERSION.test(version)) {
    throw new UserError(
      `${JSON.stringify(version)} is not a Kubernetes version`,
      `give one as ${DEFAULT_BINARY_VERSION} or ${DEFAULT_BINARY_VERSION.slice(1)}`,
    );
  }
  return version.startsWith('v') ? version : `v${version}`;
}

/**
 * The etcd kubeadm runs with each Kubernetes 1.x minor (kubeadm's SupportedEtcdVersion in
 * cmd/kubeadm/app/constants, the newest it pinned for that minor).
 */
const ETCD_FOR_MINOR: Readonly<Record<number, string>> = {
  13: 'v3.2.24',
  14: 'v3.3.10',
  15: 'v3.3.10',
  16: 'v3.3.17',
  17: 'v3.4.3',
  18: 'v3.4.3',
  19: 'v3.4.13',
  20: 'v3.4.13',
  21: 'v3.4.13',
  22: 'v3.5.6',
  23: 'v3.5.6',
  24: 'v3.5.6',
  25: 'v3.5.6',
  26: 'v3.5.10',
  27: 'v3.5.12',
  28: 'v3.5.15',
  29: 'v3.5.24',
  30: 'v3.5.24',
  31: 'v3.5.24',
  32: 'v3.5.24',
  33: 'v3.5.24',
  34: 'v3.6.9',
  35: 'v3.6.9',
  36: 'v3.6.9',
  37: 'v3.7.0',
};
const KNOWN_MINORS = Object.keys(ETCD_FOR_MINOR).map(Number);
const OLDEST_MINOR = Math.min(...KNOWN_MINORS);
const NEWEST_MINOR = Math.max(...KNOWN_MINORS);

/** The etcd ('v3.7.0') for a Kubernetes version: the table's newest past its end, its oldest before it. */
export function etcdVersionFor(kubernetesVersion: string): string {
  const m = VERSION.exec(normalizeVersion(kubernetesVersion))!;
  const major = Number(m[1]);
  const minor = major > 1 ? NEWEST_MINOR : Math.min(Math.max(Number(m[2]), OLDEST_MINOR), NEWEST_MINOR);
  return ETCD_FOR_MINOR[minor]!;
}

/** One file to fetch into the cache. */
interface Fetch {
  component: Component;
  /** Its final path. */
  file: string;
  url: string;
  checksumUrl: string;
  /** etcd: the archive's file name (its line in SHA256SUMS) and the member taken out of it. */
  archive: { name: string; member: string } | null;
}

interface CachePlan {
  version: string;
  etcdVersion: string;
  platform: Platform;
  dir: string;
  path: Record<Component, string>;
  /** The manifest lists all four and each file matches it. */
  complete: boolean;
  fetches: Fetch[];
}

const MANIFEST = 'manifest.json';

interface ManifestEntry {
  size: number;
  /** Where it was downloaded from and the SHA-256 of what was (null: it was found there). */
  url: string | null;
  sha256: string | null;
}

interface Manifest {
  version: string;
  etcdVersion: string;
  platform: string;
  files: Partial<Record<Component, ManifestEntry>>;
}

function readManifest(dir: string, version: string, platform: string): Manifest | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Partial<Manifest>;
    if (m.version !== version || m.platform !== platform || typeof m.files !== 'object' || m.files === null) {
      return null;
    }
    return m as Manifest;
  } catch {
    return null;
  }
}

/** A cached file that can be used: a regular, executable file, of the manifest's size when it lists it. */
function usable(path: string, entry: ManifestEntry | undefined): boolean {
  try {
    const st = statSync(path);
    accessSync(path, constants.X_OK);
    return st.isFile() && (entry === undefined || st.size === entry.size);
  } catch {
    return false;
  }
}

function refuseDarwin(platform: Platform): never {
  throw new UserError(
    `Kubernetes publishes its server binaries (kube-apiserver and the others) for Linux only, ` +
      `so there is nothing to download for ${platform.os}/${platform.arch}`,
    'build etcd, kube-apiserver, kube-controller-manager and kube-scheduler for this machine ' +
      '(e.g. `make WHAT=cmd/kube-apiserver` in a Kubernetes checkout) and pass their directory with --bin-dir',
  );
}

function fetchFor(c: Component, file: string, p: CachePlan, src: ReleaseSource): Fetch {
  const { os, arch } = p.platform;
  if (c !== 'etcd') {
    const url = `${src.kubernetes}/${p.version}/bin/${os}/${arch}/${c}`;
    return { component: c, file, url, checksumUrl: `${url}.sha256`, archive: null };
  }
  const base = `etcd-${p.etcdVersion}-${os}-${arch}`;
  const name = `${base}.tar.gz`;
  return {
    component: c,
    file,
    url: `${src.etcd}/${p.etcdVersion}/${name}`,
    checksumUrl: `${src.etcd}/${p.etcdVersion}/SHA256SUMS`,
    archive: { name, member: `${base}/etcd` },
  };
}

/** What the cache holds and what is missing from it; reads, never writes, no network. */
function planCache(o: PlanOptions): CachePlan {
  const version = normalizeVersion(o.version ?? DEFAULT_BINARY_VERSION);
  const platform = o.platform ?? hostPlatform();
  if (platform.os !== 'linux') refuseDarwin(platform);
  const src = releaseSource(o.env);
  const dir = join(binaryCacheDir(o.env, platform.os), version, `${platform.os}-${platform.arch}`);
  const path = Object.fromEntries(COMPONENTS.map((c) => [c, join(dir, c)])) as Record<Component, string>;
  const manifest = readManifest(dir, version, `${platform.os}-${platform.arch}`);
  const plan: CachePlan = {
    version,
    etcdVersion: manifest?.etcdVersion ?? etcdVersionFor(version),
    platform,
    dir,
    path,
    complete: manifest !== null,
    fetches: [],
  };
  for (const c of COMPONENTS) {
    const entry = manifest?.files[c];
    if (entry === undefined) plan.complete = false;
    if (!usable(path[c], entry)) plan.fetches.push(fetchFor(c, path[c], plan, src));
  }
  if (plan.fetches.length > 0) plan.complete = false;
  return plan;
}

/**
 * What findBinaries would do, for --dry-run: the directory used and the files it would download
 * (each final path, its URL and its checksum's). No network, no writes.
 */
export function planBinaries(o: PlanOptions): BinaryPlan {
  if (o.binDir !== null) return { dir: resolve(o.binDir), downloads: [] };
  const plan = planCache(o);
  return {
    dir: plan.dir,
    downloads: plan.fetches.map((f) => ({ file: f.file, url: f.url, checksumUrl: f.checksumUrl })),
  };
}

/** What to do when a download fails: the four files, for --bin-dir or this cache directory. */
function offlineHint(p: CachePlan): string {
  return (
    `put etcd (${p.etcdVersion}), kube-apiserver, kube-controller-manager and kube-scheduler (${p.version}) ` +
    `for ${p.platform.os}/${p.platform.arch} in a directory and pass it with --bin-dir, or put them in ${p.dir}`
  );
}

async function publishedChecksum(f: Fetch, http: HttpOptions): Promise<string> {
  const text = await fetchText(f.checksumUrl, http);
  const sum = f.archive === null ? parseSha256File(text) : parseSha256Sums(text, f.archive.name);
  if (sum === null) {
    const what = f.archive === null ? 'holds no SHA-256' : `lists no SHA-256 for ${f.archive.name}`;
    throw new RuntimeFailure(`${f.checksumUrl} ${what}`, http.hint);
  }
  return sum;
}

/** Downloads one file, checks it and puts it in place; the SHA-256 of what was downloaded. */
async function fetchOne(f: Fetch, o: FindBinaries, http: HttpOptions): Promise<string> {
  const expected = await publishedChecksum(f, http);
  const name = f.archive?.name ?? f.component;
  const got = await downloadToTemp(f.url, f.archive ? join(dirname(f.file), f.archive.name) : f.file, {
    ...http,
    file: name,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  try {
    if (got.sha256 !== expected) {
      throw new RuntimeFailure(
        `${name} downloaded from ${f.url} does not match its published checksum (${f.checksumUrl}): ` +
          `expected ${expected}, got ${got.sha256}`,
        `nothing was kept; run again, and if it fails again something between here and the server alters ` +
          `the file: ${http.hint}`,
      );
    }
    if (f.archive === null) {
      await placeExecutable(got.tmp, f.file);
      return got.sha256;
    }
    const member = tempPathFor(f.file);
    await extractTarGzMember(got.tmp, f.archive.member, member, f.url);
    await placeExecutable(member, f.file);
    return got.sha256;
  } finally {
    await rm(got.tmp, { force: true });
  }
}

async function writeManifest(p: CachePlan, downloaded: Map<Component, Fetch & { sha256: string }>): Promise<void> {
  const previous = readManifest(p.dir, p.version, `${p.platform.os}-${p.platform.arch}`);
  const files: Partial<Record<Component, ManifestEntry>> = {};
  for (const c of COMPONENTS) {
    const d = downloaded.get(c);
    const size = (await stat(p.path[c])).size;
    const before = previous?.files[c];
    files[c] = d
      ? { size, url: d.url, sha256: d.sha256 }
      : { size, url: before?.url ?? null, sha256: before?.sha256 ?? null };
  }
  const manifest: Manifest = {
    version: p.version,
    etcdVersion: p.etcdVersion,
    platform: `${p.platform.os}-${p.platform.arch}`,
    files,
  };
  await writeFileAtomic(join(p.dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
}

async function fromCache(o: FindBinaries): Promise<Binaries> {
  const plan = planCache(o);
  const result = (source: Binaries['source']): Binaries => ({
    version: plan.version,
    etcdVersion: plan.etcdVersion,
    dir: plan.dir,
    path: plan.path,
    source,
  });
  if (plan.complete) return result('cache');
  await ensurePrivateDir(plan.dir);
  const http: HttpOptions = { hint: offlineHint(plan), ...(o.ca !== undefined ? { ca: o.ca } : {}) };
  const downloaded = new Map<Component, Fetch & { sha256: string }>();
  // One at a time: the machine may be small, and progress reads one file after another.
  for (const f of plan.fetches) downloaded.set(f.component, { ...f, sha256: await fetchOne(f, o, http) });
  await writeManifest(plan, downloaded);
  return result(downloaded.size > 0 ? 'download' : 'cache');
}

const VERSION_TIMEOUT_MS = 20_000;

/** The version `kube-apiserver --version` prints ("Kubernetes v1.18.19"). */
async function apiserverVersion(apiserver: string, env: NodeJS.ProcessEnv): Promise<string> {
  const hint = 'check that --bin-dir holds kube-apiserver built for this machine, or leave --bin-dir out';
  let out: string;
  try {
    const r = await createRunner(env).run(apiserver, ['--version'], {
      timeoutMs: VERSION_TIMEOUT_MS,
      allowFailure: true,
    });
    if (r.exitCode !== 0) throw new Error(`it exited with ${r.exitCode}: ${r.output.slice(0, 500)}`);
    out = r.stdout;
  } catch (err) {
    throw new RuntimeFailure(`\`${apiserver} --version\` failed: ${(err as Error).message}`, hint);
  }
  const m = /\bKubernetes (v\d+\.\d+\.\d+\S*)/.exec(out);
  if (!m)
    throw new RuntimeFailure(`\`${apiserver} --version\` printed no Kubernetes version: ${out.slice(0, 200)}`, hint);
  return m[1]!;
}

async function problemOf(path: string): Promise<string | null> {
  try {
    if (!(await stat(path)).isFile()) return 'not a file';
    accessSync(path, constants.X_OK);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not executable';
  }
}

/** The user's --bin-dir, used as it is: nothing downloaded or copied. */
async function fromBinDir(binDir: string, version: string | null, env: NodeJS.ProcessEnv): Promise<Binaries> {
  const dir = resolve(binDir);
  const names = 'etcd, kube-apiserver, kube-controller-manager and kube-scheduler';
  const hint = `put ${names}${version ? ` for ${version}` : ''} in ${dir}, or leave --bin-dir out to download them`;
  if (
    !(await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new UserError(`--bin-dir ${dir} is not a directory`, hint);
  }
  const path = Object.fromEntries(COMPONENTS.map((c) => [c, join(dir, c)])) as Record<Component, string>;
  const problems: string[] = [];
  for (const c of COMPONENTS) {
    const problem = await problemOf(path[c]);
    if (problem !== null) problems.push(`${path[c]} (${problem})`);
  }
  if (problems.length > 0) {
    throw new RuntimeFailure(`--bin-dir ${dir} lacks what the binary provider runs: ${problems.join(', ')}`, hint);
  }
  const found = await apiserverVersion(path['kube-apiserver'], env);
  if (version !== null && found !== version) {
    throw new UserError(
      `--bin-dir ${dir} holds Kubernetes ${found}, not the ${version} asked for`,
      `ask for ${found}, or put ${version}'s binaries in --bin-dir, or leave --bin-dir out to download ${version}`,
    );
  }
  return { version: found, etcdVersion: null, dir, path, source: 'bin-dir' };
}

/**
 * The four binaries: --bin-dir's as they are (the version `kube-apiserver --version` reports), or
 * the cache's, downloaded into it first when any is missing.
 */
export async function findBinaries(o: FindBinaries): Promise<Binaries> {
  if (o.binDir !== null) return fromBinDir(o.binDir, o.version === null ? null : normalizeVersion(o.version), o.env);
  return fromCache(o);
}
