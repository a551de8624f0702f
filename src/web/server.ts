/**
 * `audit-lab ui`'s HTTP server: loopback only, every request checked before it is answered (the
 * Host header against DNS rebinding, a present Origin against other sites, then the secret token,
 * given once in the printed URL and kept in an HttpOnly SameSite=Strict cookie), the same strict
 * headers on every response, the page's files from one directory, and the JSON API (api.ts)
 * behind the same checks.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeFailure, UserError } from '../errors.js';

/** The built page: dist/web/public/ beside this file once built (scripts/build-web.mjs writes it). */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

export const COOKIE = 'audit_lab_ui';
export const FIRST_UI_PORT = 8900;
const SEARCHED = 100;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** 32 random bytes, base64url: the secret of one `audit-lab ui` run. */
export function newUiToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the API answers a GET under /api/ with; false: no such endpoint (404). */
export type ApiHandler = (url: URL, req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface UiServerOptions {
  token: string;
  /** An exact port, or undefined: the first free one from FIRST_UI_PORT up. */
  port?: number;
  /** Loopback: 127.0.0.1 unless given. */
  host?: string;
  publicDir?: string;
  api: ApiHandler;
}

export interface UiServer {
  port: number;
  /** The URL to open, with the token. */
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}): void {
  res.writeHead(status, { 'Content-Type': type, ...extra });
  res.end(body);
}

const plain = (res: ServerResponse, status: number, text: string) =>
  send(res, status, 'text/plain; charset=utf-8', `${text}\n`);

/** Whether `given` is the token, in time that does not depend on where they differ. */
function sameToken(given: string | undefined | null, token: string): boolean {
  if (given === undefined || given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The hosts the page may be reached by: the loopback names with this port, as a browser sends them. */
function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/**
 * The checks every request passes, in order: Host (421), Origin (403), token (401); a right
 * token in `?token=` is turned into the cookie by a 303 to the same path without it. Returns
 * whether the request may go on.
 */
function admitted(req: IncomingMessage, res: ServerResponse, url: URL, port: number, token: string): boolean {
  const host = req.headers.host ?? '';
  if (!allowedHosts(port).has(host.toLowerCase())) {
    plain(res, 421, 'audit-lab ui answers only at 127.0.0.1, localhost or [::1] with its own port.');
    return false;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
    plain(res, 403, 'audit-lab ui answers only its own page.');
    return false;
  }
  const query = url.searchParams.get('token');
  if (query !== null && sameToken(query, token) && req.method === 'GET') {
    url.searchParams.delete('token');
    const cookie = `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    send(res, 303, 'text/plain; charset=utf-8', 'See Other\n', {
      Location: `${url.pathname}${url.search}`,
      'Set-Cookie': cookie,
    });
    return false;
  }
  if (!sameToken(cookieToken(req), token)) {
    plain(res, 401, 'Not signed in: open the URL that `audit-lab ui` printed (it carries the token).');
    return false;
  }
  return true;
}

/** A file of the page: a plain name in `dir` (no path), or null. */
async function pageFile(dir: string, pathname: string): Promise<{ body: Buffer; type: string } | null> {
  const name = pathname === '/' ? 'index.html' : pathname.slice(1);
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(name)) return null;
  const type = TYPES[extname(name)];
  if (type === undefined) return null;
  try {
    return { body: await readFile(join(dir, name)), type };
  } catch {
    return null;
  }
}

/** An error of the API as JSON: a UserError is the asker's (400), anything else the server's (500). */
function sendError(res: ServerResponse, err: unknown): void {
  const user = err instanceof UserError;
  const body = {
    error: err instanceof Error ? err.message : String(err),
    ...(err instanceof UserError || err instanceof RuntimeFailure ? { hint: err.hint ?? null } : {}),
  };
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, user ? 400 : 500, 'application/json; charset=utf-8', JSON.stringify(body));
}

async function answer(req: IncomingMessage, res: ServerResponse, o: UiServerOptions, port: number): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://ui.invalid');
  if (!admitted(req, res, url, port, o.token)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'Only GET.\n', { Allow: 'GET, HEAD' });
    return;
  }
  if (url.pathname.startsWith('/api/')) {
    try {
      if (!(await o.api(url, req, res))) plain(res, 404, 'No such endpoint.');
    } catch (err) {
      sendError(res, err);
    }
    return;
  }
  const file = await pageFile(o.publicDir ?? PUBLIC_DIR, url.pathname);
  if (file === null) plain(res, 404, 'Not found.');
  else send(res, 200, file.type, req.method === 'HEAD' ? '' : file.body);
}

function listen(server: Server, host: string, port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      server.off('listening', done);
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(null);
      else reject(err);
    };
    const done = () => {
      server.off('error', failed);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    };
    server.once('error', failed);
    server.once('listening', done);
    server.listen({ host, port, exclusive: true });
  });
}

/** Starts the server on the port asked for, or the first free one from FIRST_UI_PORT up. */
export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const host = o.host ?? '127.0.0.1';
  let port = 0;
  const server = createServer((req, res) => {
    // On every response, the API's and errors' too (writeHead adds to what is set here).
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    answer(req, res, o, port).catch((err: unknown) => sendError(res, err));
  });
  const tries = o.port !== undefined ? [o.port] : Array.from({ length: SEARCHED }, (_, i) => FIRST_UI_PORT + i);
  for (const p of tries) {
    const got = await listen(server, host, p);
    if (got !== null) {
      port = got;
      break;
    }
  }
  if (port === 0) {
    throw o.port !== undefined
      ? new UserError(`port ${o.port} is taken`, 'choose another with --port N, or leave --port out for a free one')
      : new RuntimeFailure(
          `no free port in ${FIRST_UI_PORT}-${FIRST_UI_PORT + SEARCHED - 1}`,
          'choose one with --port N',
        );
  }
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${shownHost}:${port}/?token=${o.token}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
