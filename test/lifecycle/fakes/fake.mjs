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
 *
 * The programs on PATH (kind, kubectl, docker: links to fake.sh) ask the test's fake tools server
 * (test/harness/fakeTools.ts) for `answer`, which costs no node start-up per call; without one they
 * run this file: `node fake.mjs TOOL ARGS...`.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

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

async function curl(argv) {
  const raw = argv.find((a) => a.startsWith('https://') || a.startsWith('http://'));
  if (!raw) return { code: 2, stderr: 'curl: no URL specified' };
  const url = new URL(raw);
  // From inside a Docker Desktop node, host.docker.internal is this machine.
  if (url.hostname === 'host.docker.internal') url.hostname = '127.0.0.1';
  if (!LOOPBACK.has(url.hostname)) {
    return { code: 7, stderr: `curl: (7) fake: refusing to contact non-loopback ${url.hostname}` };
  }
  const { request } = await import('node:https');
  return new Promise((resolve) => {
    // No time limit of its own: the command running the fake has one.
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve(
          res.statusCode >= 400
            ? { code: 22, stderr: `curl: (22) The requested URL returned error: ${res.statusCode}` }
            : { code: 0, stdout: body },
        ),
      );
    });
    req.on('error', (e) =>
      resolve({ code: 7, stderr: `curl: (7) Failed to connect to ${url.host}: ${e.code ?? e.message}` }),
    );
    req.end();
  });
}

/**
 * What `tool` run with `argv` and `stdin` answers, by the table, world and log `env` names:
 * { stdout, stderr, code }. Logs the call and changes the world as its row says. An error is
 * written to the log's .errors file (which the sandbox shows) and thrown.
 */
export async function answer(tool, argv, stdin, env) {
  try {
    return await answerRow(tool, argv, stdin, env);
  } catch (err) {
    if (env.FAKE_TOOLS_LOG) appendFileSync(`${env.FAKE_TOOLS_LOG}.errors`, `${tool} ${argv.join(' ')}: ${err.stack}\n`);
    throw err;
  }
}

async function answerRow(tool, argv, stdin, env) {
  if (env.FAKE_TOOLS_LOG) appendFileSync(env.FAKE_TOOLS_LOG, `${JSON.stringify({ tool, args: argv, stdin })}\n`);
  const table = JSON.parse(readFileSync(env.FAKE_TOOLS_TABLE, 'utf8'));
  const worldPath = env.FAKE_TOOLS_WORLD;
  const world = readWorld(worldPath);
  const row = (table[tool] ?? []).find(
    (r) => matches(r.args, argv) && Object.entries(r.when ?? {}).every(([k, v]) => (world[k] ?? false) === v),
  );
  if (!row) return { stdout: '', stderr: `fake ${tool}: no answer in the table for: ${argv.join(' ')}\n`, code: 99 };
  if (row.sleepMs) await new Promise((r) => setTimeout(r, row.sleepMs));
  let out = { stdout: row.stdout ?? '', stderr: row.stderr ?? '', code: row.code ?? 0 };
  if (row.action === 'curl') out = { stdout: '', stderr: '', ...(await curl(argv)) };
  if (row.set && worldPath) writeFileSync(worldPath, JSON.stringify({ ...readWorld(worldPath), ...row.set }));
  return out;
}

/** The fake as a program: `node fake.mjs TOOL ARGS...`, stdin read to its end. */
async function main() {
  const [tool, ...argv] = process.argv.slice(2);
  let stdin = '';
  try {
    stdin = readFileSync(0, 'utf8');
  } catch {
    // No stdin (closed or a terminal).
  }
  const out = await answer(tool, argv, stdin, process.env);
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  process.exitCode = out.code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
