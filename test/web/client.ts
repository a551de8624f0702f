/**
 * `audit-lab ui`'s server as tests run it: in this process, on a free loopback port, over a lab
 * home or files, with a placeholder page (the real one is built from web/page/); and a client
 * that sends exactly the headers a test gives (Host included), over a real socket.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { LabPaths } from '../../src/lab/paths.js';
import { apiHandler } from '../../src/web/api.js';
import { COOKIE, newUiToken, startUiServer, type UiServer } from '../../src/web/server.js';
import { testDir } from '../harness/lab.js';

export const PLACEHOLDER = '<!doctype html><title>placeholder</title>';

export interface Running {
  server: UiServer;
  token: string;
  /** The Host header a browser at the printed URL sends. */
  host: string;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  /** GET with the cookie, the body parsed as JSON; a status other than 200 throws. */
  json<T = Record<string, unknown>>(path: string): Promise<T>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET over a real socket to 127.0.0.1:port, with only the headers given (Host: as given, else the address). */
export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', headers, setHost: !('Host' in headers) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The server over `paths` (or `files`), closed when the test ends. */
export async function startUi(paths: LabPaths, files: string[] = [], pollMs = 20): Promise<Running> {
  const publicDir = join(await testDir('audit-lab-ui-'), 'public');
  await mkdir(publicDir);
  await writeFile(join(publicDir, 'index.html'), PLACEHOLDER);
  await writeFile(join(publicDir, 'app.js'), 'console.log(1);\n');
  const token = newUiToken();
  const closing = new AbortController();
  const api = apiHandler({ paths, files, cwd: process.cwd(), now: () => Date.now(), pollMs, signal: closing.signal });
  const server = await startUiServer({ token, port: 0, publicDir, api });
  onTestFinished(async () => {
    closing.abort();
    await server.close();
  });
  const host = `127.0.0.1:${server.port}`;
  const cookie = `${COOKIE}=${token}`;
  return {
    server,
    token,
    host,
    get: (path, headers = {}) => get(server.port, path, { Host: host, ...headers }),
    json: async <T>(path: string) => {
      const r = await get(server.port, path, { Host: host, Cookie: cookie });
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
      return JSON.parse(r.body) as T;
    },
  };
}
