/**
 * A local stand-in for dl.k8s.io and etcd's GitHub releases: an HTTPS server on 127.0.0.1 with a
 * certificate from a CA made by the project's PKI code, serving release-shaped paths (fake
 * binaries, their .sha256 files, an etcd .tar.gz built here, SHA256SUMS), counting every request.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { onTestFinished } from 'vitest';
import { createCa, issueServerCert } from '../../src/lab/pkiIssuer.js';

export interface TarEntry {
  name: string;
  body?: string | Buffer;
  /** tar type flag: '0' file (default), '5' directory, '2' symlink, 'x' pax header. */
  type?: string;
  linkname?: string;
  mode?: number;
  /** POSIX ustar prefix (the start of a long name). */
  prefix?: string;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** A tar archive (ustar headers) of the entries, ended by two zero blocks. */
export function tar(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write(octal(e.mode ?? 0o755, 8), 100, 'latin1');
    h.write(octal(0, 8), 108, 'latin1');
    h.write(octal(0, 8), 116, 'latin1');
    h.write(octal(body.length, 12), 124, 'latin1');
    h.write(octal(0, 12), 136, 'latin1');
    h.write('        ', 148, 'latin1');
    h.write(e.type ?? '0', 156, 'latin1');
    h.write(e.linkname ?? '', 157, 100, 'utf8');
    h.write('ustar\u000000', 257, 'latin1');
    h.write(e.prefix ?? '', 345, 155, 'utf8');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A pax extended header entry setting the next entry's path. */
export function paxPath(path: string): TarEntry {
  const record = (len: number) => `${len} path=${path}\n`;
  let len = record(0).length;
  while (record(len).length !== len) len = record(len).length;
  return { name: 'PaxHeader', type: 'x', body: record(len) };
}

export const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

export interface Route {
  status?: number;
  body?: string | Buffer;
  location?: string;
  /** Send no content-length (a chunked answer). */
  chunked?: boolean;
  /** Send this many bytes of the body, then cut the connection. */
  cutAfter?: number;
  /** Send this many bytes of the body (none: not even the status), then nothing more. */
  stallAfter?: number;
}

export interface ReleaseServer {
  port: number;
  ca: string;
  url(path: string): string;
  routes: Map<string, Route>;
  /** Every request's path, in order. */
  hits: string[];
}

function answer(route: Route | undefined, res: ServerResponse): void {
  if (route === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  if (route.location !== undefined) {
    res.writeHead(route.status ?? 302, { location: route.location }).end();
    return;
  }
  const body = Buffer.from(route.body ?? '');
  if (route.stallAfter !== undefined) {
    // The connection is closed with the server, when the test ends.
    if (route.stallAfter > 0) {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, route.stallAfter));
    }
    return;
  }
  if (route.cutAfter !== undefined) {
    res.writeHead(200, { 'content-length': String(body.length) });
    res.write(body.subarray(0, route.cutAfter), () => res.socket?.destroy());
    return;
  }
  res.writeHead(route.status ?? 200, route.chunked ? {} : { 'content-length': String(body.length) });
  if (route.chunked) {
    // Several writes, so the client sees the body arrive in pieces.
    const piece = Math.ceil(body.length / 4) || 1;
    for (let at = 0; at < body.length; at += piece) res.write(body.subarray(at, at + piece));
    res.end();
    return;
  }
  res.end(body);
}

/** Starts the server for the current test; it is closed when the test ends. */
export async function startReleaseServer(): Promise<ReleaseServer> {
  const ca = await createCa('release-test');
  const leaf = await issueServerCert(ca, ['127.0.0.1', 'localhost']);
  const routes = new Map<string, Route>();
  const hits: string[] = [];
  const server: Server = createServer({ cert: leaf.cert, key: leaf.key }, (req: IncomingMessage, res) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    hits.push(path);
    answer(routes.get(path), res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { port, ca: ca.cert, url: (p) => `https://127.0.0.1:${port}${p}`, routes, hits };
}

/** A port nothing listens on (one just freed). */
export async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const KUBE = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** A fake binary: a shell script that prints `version` for --version, padded so it arrives in pieces. */
export function fakeBinary(name: string, version: string, padBytes = 64 * 1024): string {
  const pad = `# ${'x'.repeat(78)}\n`.repeat(Math.ceil(padBytes / 81));
  return `#!/bin/sh\n# fake ${name}\nif [ "$1" = "--version" ]; then echo "${version}"; exit 0; fi\necho "fake ${name}"\n${pad}`;
}

export interface Release {
  version: string;
  etcdVersion: string;
  /** What each component's file must hold once taken from the release. */
  content: Record<string, string>;
  archive: Buffer;
  archiveName: string;
  /** The paths of each file's download and its checksum's. */
  paths: Record<string, { file: string; checksum: string }>;
}

/**
 * Serves a release as upstream lays it out: `/k8s/<v>/bin/linux/amd64/<name>` (+ `.sha256`) and
 * `/etcd/<ev>/etcd-<ev>-linux-amd64.tar.gz` with `/etcd/<ev>/SHA256SUMS`.
 */
export function serveRelease(s: ReleaseServer, version = 'v1.37.2', etcdVersion = 'v3.7.0'): Release {
  const content: Record<string, string> = {};
  const paths: Release['paths'] = {};
  for (const name of KUBE) {
    content[name] = fakeBinary(name, `Kubernetes ${version}`);
    const file = `/k8s/${version}/bin/linux/amd64/${name}`;
    s.routes.set(file, { body: content[name] });
    s.routes.set(`${file}.sha256`, { body: `${sha256(content[name])}\n` });
    paths[name] = { file, checksum: `${file}.sha256` };
  }
  const base = `etcd-${etcdVersion}-linux-amd64`;
  content.etcd = fakeBinary('etcd', `etcd Version: ${etcdVersion.slice(1)}`);
  const archive = gzipSync(
    tar([
      { name: `${base}/`, type: '5', mode: 0o755 },
      { name: `${base}/README.md`, body: '# etcd\n', mode: 0o644 },
      { name: `${base}/etcdctl`, body: fakeBinary('etcdctl', 'etcdctl version: 3') },
      { name: `${base}/etcd`, body: content.etcd },
      { name: `${base}/etcdutl`, body: fakeBinary('etcdutl', 'etcdutl version: 3') },
    ]),
  );
  const archiveName = `${base}.tar.gz`;
  const file = `/etcd/${etcdVersion}/${archiveName}`;
  s.routes.set(file, { body: archive });
  const sums = [`${sha256('other')}  etcd-${etcdVersion}-darwin-arm64.zip`, `${sha256(archive)}  ${archiveName}`];
  s.routes.set(`/etcd/${etcdVersion}/SHA256SUMS`, { body: `${sums.join('\n')}\n` });
  paths.etcd = { file, checksum: `/etcd/${etcdVersion}/SHA256SUMS` };
  return { version, etcdVersion, content, archive, archiveName, paths };
}

/** The environment findBinaries is given: the cache in `cacheDir`, releases from the server. */
export function releaseEnv(s: { port: number }, cacheDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: cacheDir,
    AUDIT_LAB_CACHE_DIR: cacheDir,
    AUDIT_LAB_KUBERNETES_RELEASE_URL: `https://127.0.0.1:${s.port}/k8s`,
    AUDIT_LAB_ETCD_RELEASE_URL: `https://127.0.0.1:${s.port}/etcd`,
  };
}
