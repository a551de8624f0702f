/**
 * A stand-in for kind, kubectl or docker, answering from a table: argv -> stdout, stderr, exit
 * code. Not a call sequence: a row may depend on a small "world" (flags such as cluster=true) and
 * change it, so `kind get clusters` answers differently before and after `kind create cluster`
 * whatever the order of other calls.
 *
 *   FAKE_TOOLS_TABLE  JSON file: { "<tool>": [ row, ... ] }; the first matching row answers
 *   FAKE_TOOLS_WORLD  JSON file of world flags (created when missing)
 *   FAKE_TOOLS_LOG    JSONL file: one { tool, args, stdin } per call
 *
 * A row: { args: [..], when?: {flag: value}, stdout?, stderr?, code?, set?: {flag: value},
 *          sleepMs?, action?: "curl" }
 * args: each item matches one argument exactly, "*" matches any one, a final "..." any rest.
 * A flag never set counts as false. action "curl" fetches the https URL among the arguments from
 * this machine, as the node would reach the host; only loopback addresses are ever contacted.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';

function matches(pattern, argv) {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '...' && i === pattern.length - 1) return true;
    if (i >= argv.length) return false;
    if (pattern[i] !== '*' && pattern[i] !== argv[i]) return false;
  }
  return pattern.length === argv.length;
}

function readWorld(path) {
  return path && existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function curl(argv) {
  const raw = argv.find((a) => a.startsWith('https://') || a.startsWith('http://'));
  if (!raw) return Promise.resolve({ code: 2, stderr: 'curl: no URL specified' });
  const url = new URL(raw);
  // From inside a Docker Desktop node, host.docker.internal is this machine.
  if (url.hostname === 'host.docker.internal') url.hostname = '127.0.0.1';
  if (!LOOPBACK.has(url.hostname)) {
    return Promise.resolve({ code: 7, stderr: `curl: (7) fake: refusing to contact non-loopback ${url.hostname}` });
  }
  return new Promise((resolve) => {
    // No time limit of its own: the command running the fake has one.
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve(res.statusCode >= 400 ? { code: 22, stderr: `curl: (22) The requested URL returned error: ${res.statusCode}` } : { code: 0, stdout: body }),
      );
    });
    req.on('error', (e) => resolve({ code: 7, stderr: `curl: (7) Failed to connect to ${url.host}: ${e.code ?? e.message}` }));
    req.end();
  });
}

export async function fake(tool) {
  try {
    await answer(tool);
  } catch (err) {
    if (process.env.FAKE_TOOLS_LOG) appendFileSync(`${process.env.FAKE_TOOLS_LOG}.errors`, `${tool} ${process.argv.slice(2).join(' ')}: ${err.stack}\n`);
    throw err;
  }
}

async function answer(tool) {
  const argv = process.argv.slice(2);
  let stdin = '';
  try {
    stdin = readFileSync(0, 'utf8');
  } catch {
    // No stdin (closed or a terminal).
  }
  if (process.env.FAKE_TOOLS_LOG) appendFileSync(process.env.FAKE_TOOLS_LOG, `${JSON.stringify({ tool, args: argv, stdin })}\n`);
  const table = JSON.parse(readFileSync(process.env.FAKE_TOOLS_TABLE, 'utf8'));
  const worldPath = process.env.FAKE_TOOLS_WORLD;
  const world = readWorld(worldPath);
  const row = (table[tool] ?? []).find(
    (r) => matches(r.args, argv) && Object.entries(r.when ?? {}).every(([k, v]) => (world[k] ?? false) === v),
  );
  if (!row) {
    process.stderr.write(`fake ${tool}: no answer in the table for: ${argv.join(' ')}\n`);
    process.exitCode = 99;
    return;
  }
  if (row.sleepMs) await new Promise((r) => setTimeout(r, row.sleepMs));
  let answer = { stdout: row.stdout ?? '', stderr: row.stderr ?? '', code: row.code ?? 0 };
  if (row.action === 'curl') answer = { stdout: '', stderr: '', ...(await curl(argv)) };
  if (row.set && worldPath) writeFileSync(worldPath, JSON.stringify({ ...readWorld(worldPath), ...row.set }));
  process.stdout.write(answer.stdout);
  process.stderr.write(answer.stderr);
  process.exitCode = answer.code;
}
