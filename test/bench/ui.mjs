#!/usr/bin/env node
// `audit-lab ui`'s server against a 1,000,000-event lab (topData.mjs's API-server-like events, in
// two sinks): the time to the first page of /api/events, the time of later pages (by `before`),
// of a filtered page, of /api/top and /api/policy, and the server process's peak RSS (VmHWM) once
// all of that is done, to show that its memory does not grow with the lab. Prints figures;
// asserts nothing.
//
//   npm run bench:ui            BENCH_EVENTS=N (default 1000000), BENCH_PAGES=N (default 10)
//
// The streams are generated once and kept in $TMPDIR/audit-lab-bench/ (their names carry the
// count); the lab made from them (hard links) is removed at the end.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './topData.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'audit-lab.js');
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const PAGES = Number(process.env.BENCH_PAGES ?? 10);
const SINKS = ['default', 'audit'];

const { labPaths } = await import(new URL('../../dist/lab/paths.js', import.meta.url).href);
const { DEFAULT_SINK, newLabState, newSinkState, writeState } = await import(
  new URL('../../dist/lab/state.js', import.meta.url).href
);

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** Each sink's stream (half the events each, interleaved in time), generated once. */
async function streams() {
  const dir = join(tmpdir(), 'audit-lab-bench');
  await mkdir(dir, { recursive: true });
  const files = SINKS.map((sink) => join(dir, `ui-v1-${EVENTS}-${sink}.log`));
  if (files.every((f) => existsSync(f))) return files;
  const t0 = performance.now();
  const fds = files.map((f) => openSync(`${f}.partial`, 'w'));
  const lines = SINKS.map(() => []);
  let i = 0;
  generate({ count: EVENTS, seed: 24, perSecond: 4000 }, (line) => {
    const k = i++ % SINKS.length;
    lines[k].push(line);
    if (lines[k].length === 10_000) {
      writeSync(fds[k], `${lines[k].join('\n')}\n`);
      lines[k] = [];
    }
  });
  lines.forEach((l, k) => l.length > 0 && writeSync(fds[k], `${l.join('\n')}\n`));
  fds.forEach((fd) => closeSync(fd));
  files.forEach((f) => renameSync(`${f}.partial`, f));
  console.log(`generated ${EVENTS} events in ${s(performance.now() - t0)}`);
  return files;
}

function get(port, path, cookie) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, headers: cookie ? { Cookie: cookie } : {} }, (res) => {
      let bytes = 0;
      const chunks = [];
      res.on('data', (c) => {
        bytes += c.length;
        chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          bytes,
          ms: performance.now() - t0,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const peakRss = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const rssNow = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * The page in a real headless Chromium (Debian's /usr/bin/chromium; skipped, and said, without it):
 * from navigation to the first rows on screen, and the page's JS heap once its first page is in
 * (after a garbage collection).
 */
async function inBrowser(url) {
  const path = process.env.AUDIT_LAB_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    console.log(`  (no ${path}: the page was not measured)`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: path, headless: true, args: ['--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const started = performance.now();
    await page.goto(url);
    await page.locator('button.row:not([disabled])').first().waitFor({ timeout: 600_000 });
    const firstRows = performance.now() - started;
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    console.log(`  page: first rows on screen     ${s(firstRows)} after navigation (headless Chromium)`);
    console.log(`  page: JS heap                  ${(usedSize / 1024 / 1024).toFixed(1)} MB after its first page`);
  } finally {
    await browser.close();
  }
}

const files = await streams();
const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-ui-'));
const paths = labPaths(home, 'audit-lab');
const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null, now: new Date() });
for (const name of SINKS) state.sinks.push(newSinkState({ ...DEFAULT_SINK, name }, new Date()));
await writeState(paths, state);
await mkdir(paths.streamsDir, { recursive: true });
for (const [k, sink] of SINKS.entries()) await link(files[k], join(paths.streamsDir, `${sink}.log`));

const child = spawn(process.execPath, [BIN, 'ui', '--no-open'], {
  env: { ...process.env, AUDIT_LAB_HOME: home },
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /audit-lab ui: (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`audit-lab ui exited (${code})`)));
  });
  const port = Number(new URL(url).port);
  const signIn = await get(port, new URL(url).pathname + new URL(url).search);
  const cookie = String(signIn.headers['set-cookie']).split(';')[0];
  console.log(`\n== audit-lab ui over ${EVENTS} events in ${SINKS.length} sinks (server pid ${child.pid}) ==`);
  console.log(`  RSS at start                   ${rssNow(child.pid).toFixed(0)} MB`);
  const first = await get(port, '/api/events?limit=200', cookie);
  const page = JSON.parse(first.body);
  console.log(
    `  first page (200 events)        ${s(first.ms)}  total ${page.total}, ${(first.bytes / 1024).toFixed(0)} KiB`,
  );
  let next = page.next;
  const times = [];
  for (let i = 0; i < PAGES && next !== null; i++) {
    const r = await get(port, `/api/events?limit=200&before=${next}`, cookie);
    times.push(r.ms);
    next = JSON.parse(r.body).next;
  }
  console.log(
    `  next ${times.length} pages (before=)       median ${s(times.sort((a, b) => a - b)[times.length >> 1] ?? 0)}`,
  );
  const oldest = await get(port, '/api/events?limit=5000&before=5000', cookie);
  console.log(`  oldest page (5000 events)      ${s(oldest.ms)}, ${(oldest.bytes / 1024 / 1024).toFixed(1)} MiB`);
  const filtered = await get(port, '/api/events?limit=200&verb=delete&resource=pods', cookie);
  console.log(`  filtered page                  ${s(filtered.ms)}  total ${JSON.parse(filtered.body).total}`);
  const top = await get(port, '/api/top?by=user,verb,resource&bucket=10s', cookie);
  console.log(`  /api/top                       ${s(top.ms)}  ${JSON.parse(top.body).rows.length} rows`);
  const policy = await get(port, '/api/policy?policy=preset:recommended&limit=200', cookie);
  console.log(`  /api/policy (recommended)      ${s(policy.ms)}`);
  console.log(`  peak RSS of the server         ${peakRss(child.pid).toFixed(0)} MB (VmHWM)`);
  await inBrowser(url);
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(home, { recursive: true, force: true });
}
