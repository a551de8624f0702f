/**
 * `tail --file` and `policy test --file` as a user runs them: the built CLI (run `npm run build`
 * first) on audit log files in a temporary directory, with an empty AUDIT_LAB_HOME: no lab, and
 * no receiver may be started (the home stays empty).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { appendFile, readdir, readFile, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, CliProcess, type CliResult, ROOT, runCli, startCli } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';
import { event, eventList, ids, logText, writeLog } from '../streams/logs.js';

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/streams/fileSource.js')))
    throw new Error('dist/ has no --file reader: run `npm run build` first');
});

const running: CliProcess[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop('SIGKILL');
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const idsOut = (stdout: string) => lines(stdout).map((l) => (JSON.parse(l) as { auditID: string }).auditID);
const series = (prefix: string, n: number, startMs: number, stepMs = 1000) =>
  Array.from({ length: n }, (_, i) => event(`${prefix}${i}`, startMs + i * stepMs));

/** A temp dir for the logs and an empty home: the CLI runs in the logs' dir, so names are relative. */
async function place(): Promise<{ dir: string; home: string; env: NodeJS.ProcessEnv }> {
  const dir = await testDir('audit-lab-files-');
  const home = await testDir('audit-lab-home-');
  return { dir, home, env: { AUDIT_LAB_HOME: home, TZ: 'UTC' } };
}

const tail = (p: { dir: string; env: NodeJS.ProcessEnv }, args: string[]) =>
  runCli(['tail', ...args], { cwd: p.dir, env: p.env });

/** The CLI with `input` on its standard input. */
function withStdin(args: string[], input: Buffer, p: { dir: string; env: NodeJS.ProcessEnv }): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: p.dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...p.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('tail --file --no-follow', () => {
  it('shows a plain log as stored, with no lab and no receiver', async () => {
    const p = await place();
    const evs = series('p', 5, 0);
    await writeLog(join(p.dir, 'audit.log'), evs);
    const r = await tail(p, ['--file', 'audit.log', '--no-follow', '-o', 'jsonl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(logText(evs));
    expect(await readdir(p.home)).toEqual([]);
  });

  it('a rotated set, gzip included, given out of order (as a glob may), comes out in time order', async () => {
    const p = await place();
    const old = series('old', 4, 0);
    const mid = series('mid', 4, 60_000);
    const now = series('now', 4, 120_000);
    await writeLog(join(p.dir, 'audit-2026-11-29T09-01-00.000.log.gz'), old, { gzip: true });
    await writeLog(join(p.dir, 'audit-2026-11-29T09-02-00.000.log'), mid);
    await writeLog(join(p.dir, 'audit.log'), now);
    const r = await tail(p, [
      '--file',
      'audit-2026-11-29T09-02-00.000.log',
      'audit.log',
      '--file',
      'audit-2026-11-29T09-01-00.000.log.gz',
      '--no-follow',
      '-o',
      'jsonl',
    ]);
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(ids([...old, ...mid, ...now]));
  });

  it('overlapping files are merged by time; the SINK column names the file', async () => {
    const p = await place();
    const a = series('a', 3, 0, 2000);
    const b = series('b', 3, 1000, 2000);
    await writeLog(join(p.dir, 'api-1.log'), a);
    await writeLog(join(p.dir, 'api-2.log'), b);
    const r = await tail(p, ['--file', 'api-2.log', 'api-1.log', '--no-follow', '-o', 'wide']);
    expect(r.code).toBe(0);
    // wide: time, sink, ..., audit ID last.
    const rows = lines(r.stdout).map((l) => l.split(/ {2,}/));
    expect(rows.map((c) => [c[1], c.at(-1)])).toEqual([
      ['api-1.log', 'a0'],
      ['api-2.log', 'b0'],
      ['api-1.log', 'a1'],
      ['api-2.log', 'b1'],
      ['api-1.log', 'a2'],
      ['api-2.log', 'b2'],
    ]);
  });

  it('an EventList document and v1beta1 lines', async () => {
    const p = await place();
    const listed = series('l', 3, 0);
    const beta = [event('b0', 10_000, { version: 'v1beta1' }), event('b1', 11_000, { version: 'v1beta1' })];
    await writeFile(join(p.dir, 'list.json'), eventList(listed));
    await writeLog(join(p.dir, 'beta.log'), beta);
    const r = await tail(p, ['--file', 'beta.log', 'list.json', '--no-follow', '-o', 'jsonl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(['l0', 'l1', 'l2', 'b0', 'b1']);
    // An item becomes a log line (v1 kind and apiVersion); a log line is printed as stored.
    expect(lines(r.stdout)[0]).toBe(JSON.stringify(listed[0]));
    expect(lines(r.stdout)[3]).toBe(JSON.stringify(beta[0]));
  });

  it('lines that are not events: the others shown, each bad one listed with file:line and why, exit 2', async () => {
    const p = await place();
    const good = series('g', 3, 0);
    const text = [
      JSON.stringify(good[0]),
      'garbage',
      JSON.stringify(good[1]),
      '{"kind":"Event","apiVersion":"audit.k8s.io/v1"}',
      '',
      JSON.stringify(good[2]),
      '{"kind":"Event","apiVersion":"audit.k8s.io/v2","auditID":"x","stage":"ResponseComplete","level":"Metadata"}',
    ].join('\n');
    await writeFile(join(p.dir, 'audit.log'), `${text}\n`);
    const r = await tail(p, ['--file', 'audit.log', '--no-follow', '-o', 'jsonl']);
    expect(r.code).toBe(2);
    expect(idsOut(r.stdout)).toEqual(['g0', 'g1', 'g2']);
    expect(lines(r.stderr)).toEqual([
      'error: 3 lines are not audit events (the receiver would refuse them), so they were left out:',
      expect.stringMatching(/^ {2}audit\.log:2: malformed JSON: /),
      '  audit.log:4: no auditID',
      '  audit.log:7: unsupported apiVersion "audit.k8s.io/v2" (want audit.k8s.io/v1 or audit.k8s.io/v1beta1)',
      'hint: each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them',
    ]);
  });

  it('many bad lines: the first 20 listed, then how many more', async () => {
    const p = await place();
    await writeFile(
      join(p.dir, 'junk.log'),
      `${Array.from({ length: 23 }, (_, i) => `junk${i}`).join('\n')}\n${JSON.stringify(event('ok', 0))}\n`,
    );
    const r = await tail(p, ['--file', 'junk.log', '--no-follow', '-o', 'jsonl']);
    expect(r.code).toBe(2);
    expect(idsOut(r.stdout)).toEqual(['ok']);
    const err = lines(r.stderr);
    expect(err[0]).toBe(
      'error: 23 lines are not audit events (the receiver would refuse them), so they were left out:',
    );
    expect(err.slice(1, 21).map((l) => l.split(':')[1])).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(err.slice(21)).toEqual([
      '  ... and 3 more',
      'hint: each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them',
    ]);
  });

  it('- reads standard input, gzip or not', async () => {
    const p = await place();
    const evs = series('in', 4, 0);
    const plain = await withStdin(['tail', '--file', '-', '--no-follow', '-o', 'jsonl'], Buffer.from(logText(evs)), p);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(logText(evs));
    const zipped = await withStdin(
      ['tail', '--file', '-', '--no-follow', '-o', 'jsonl', '--verb', 'list'],
      gzipSync(logText(evs)),
      p,
    );
    expect(zipped.code).toBe(0);
    expect(idsOut(zipped.stdout)).toEqual(ids(evs));
  });

  it('following standard input reads it to its end, then ends', async () => {
    const p = await place();
    const evs = series('pipe', 3, 0);
    const r = await withStdin(['tail', '--file', '-', '-o', 'jsonl'], Buffer.from(logText(evs)), p);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(logText(evs));
  });

  it('a pipe (--file <(zcat x)), gzip or not, and a link to a log: read once each, merged by time, a bad line listed once', async () => {
    const p = await place();
    const [a, b, c] = [series('a', 3, 0, 3000), series('b', 3, 1000, 3000), series('c', 3, 2000, 3000)];
    execFileSync('mkfifo', [join(p.dir, 'plain.pipe'), join(p.dir, 'gzip.pipe')]);
    await writeLog(join(p.dir, 'real.log'), c);
    await symlink(join(p.dir, 'real.log'), join(p.dir, 'link.log'));
    const cli = startCli(['tail', '--no-follow', '-o', 'jsonl', '--file', 'plain.pipe', 'gzip.pipe', 'link.log'], {
      cwd: p.dir,
      env: p.env,
    });
    running.push(cli);
    createWriteStream(join(p.dir, 'plain.pipe')).end(`${JSON.stringify(a[0])}\njunk\n${logText(a.slice(1))}`);
    createWriteStream(join(p.dir, 'gzip.pipe')).end(gzipSync(logText(b)));
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(2);
    expect(idsOut(r.stdout)).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2']);
    expect(r.stderr).toContain(
      '1 line is not audit events (the receiver would refuse it), so it was left out:\n  plain.pipe:2: malformed JSON',
    );
  });

  it('Ctrl-C ends it while standard input is still open (a writer like kubectl logs -f)', async () => {
    const p = await place();
    const child = spawn(process.execPath, [BIN, 'tail', '--file', '-', '-o', 'jsonl'], {
      cwd: p.dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...p.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const cli = new CliProcess(child);
    running.push(cli);
    child.stdin.write(logText([event('live0', 0)]));
    await cli.waitFor((s) => s.includes('live0'), 'the event written so far');
    const r = await cli.stop('SIGINT');
    child.stdin.destroy();
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(['live0']);
  });

  it('--tail N keeps the last N of what passes the filters', async () => {
    const p = await place();
    const evs = series('t', 50, 0).map((e, i) => ({ ...e, verb: i % 3 === 0 ? 'delete' : 'get' }));
    await writeLog(join(p.dir, 'audit.log'), evs);
    const r = await tail(p, ['--file', 'audit.log', '--no-follow', '--tail', '4', '--verb', 'delete', '-o', 'jsonl']);
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(ids(evs.filter((e) => e.verb === 'delete').slice(-4)));
  });

  it('a missing file is exit 2 with what to do, and --file with --sink is refused', async () => {
    const p = await place();
    const r = await tail(p, ['--file', 'nothere.log', '--no-follow']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)[0]).toBe('error: cannot read audit log nothere.log: no such file');
    const both = await tail(p, ['--file', 'a.log', '--sink', 'default', '--no-follow']);
    expect(both.code).toBe(2);
    expect(lines(both.stderr)[0]).toBe('error: give either --file or --sink, not both');
  });
});

describe('tail --file following (as tail -F)', () => {
  it('reads appended lines once whole, then follows rotation (rename + new file) and truncation', async () => {
    const p = await place();
    const log = join(p.dir, 'audit.log');
    const side = join(p.dir, 'side.log');
    const first = series('f', 2, 0);
    await writeLog(log, first);
    await writeLog(side, []);
    const cli = startCli(['tail', '--file', 'audit.log', 'side.log', '-o', 'jsonl'], {
      cwd: p.dir,
      env: p.env,
      timeoutMs: 60_000,
    });
    running.push(cli);
    await cli.waitFor((s) => lines(s).length === 2, 'the stored events');

    // Half a line, then a line in the other file: the poll that shows it has seen the half line.
    const appended = JSON.stringify(event('a0', 5000));
    await appendFile(log, appended.slice(0, 40));
    await appendFile(side, `${JSON.stringify(event('side0', 5500))}\n`);
    await cli.waitFor((s) => s.includes('side0'), 'the side file');
    await appendFile(log, `${appended.slice(40)}\n`);
    await cli.waitFor((s) => s.includes('a0'), 'the line once whole');

    // Rotation as kube-apiserver's does it: a last line into the old file, rename, a new file.
    await appendFile(log, `${JSON.stringify(event('last-old', 6000))}\n`);
    await rename(log, join(p.dir, 'audit-2026-11-29T09-00-06.000.log'));
    await writeLog(log, [event('new0', 7000), event('new1', 8000)]);
    await cli.waitFor((s) => s.includes('new1'), 'the new file');

    // Truncated in place (copytruncate) and written again from the start.
    await truncate(log, 0);
    await writeLog(log, [event('again', 9000)]);
    await cli.waitFor((s) => s.includes('again'), 'the file written again');

    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(['f0', 'f1', 'side0', 'a0', 'last-old', 'new0', 'new1', 'again']);
    expect(r.stderr).not.toMatch(/warning|error/);
    expect(await readdir(p.home)).toEqual([]);
  });

  it('waits for a file that is not there yet', async () => {
    const p = await place();
    const cli = startCli(['tail', '--file', 'later.log', '-o', 'jsonl'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
    running.push(cli);
    await cli.waitFor(/later\.log is not there yet; waiting for it/, 'the note', { stream: 'stderr' });
    await writeLog(join(p.dir, 'later.log'), [event('late', 0)]);
    await cli.waitFor((s) => s.includes('late'), 'the event');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(idsOut(r.stdout)).toEqual(['late']);
  });

  it('a bad line while following: warned at once, listed at the end, exit 2', async () => {
    const p = await place();
    await writeLog(join(p.dir, 'audit.log'), [event('ok0', 0)]);
    const cli = startCli(['tail', '--file', 'audit.log', '-o', 'jsonl'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
    running.push(cli);
    await cli.waitFor((s) => s.includes('ok0'), 'the stored event');
    await appendFile(join(p.dir, 'audit.log'), `oops\n${JSON.stringify(event('ok1', 1000))}\n`);
    await cli.waitFor((s) => s.includes('ok1'), 'the event after the bad line');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(2);
    const err = lines(r.stderr);
    expect(err[0]).toMatch(/^warning: left out a line that is not an audit event \(audit\.log:2: malformed JSON/);
    expect(err).toContain('error: 1 line is not audit events (the receiver would refuse it), so it was left out:');
  });
});

describe('policy test --file', () => {
  const FIXTURE = join(ROOT, 'test/fixtures/policy/audit.log');

  interface Report {
    results: { file: string; line: number; auditID: string; rule: number | null; level: string }[];
    refused: unknown[];
  }

  it('reads gzip as it reads the plain file: the same verdicts, each at its file and line', async () => {
    const p = await place();
    const text = await readFile(FIXTURE, 'utf8');
    await writeFile(join(p.dir, 'audit.log.gz'), gzipSync(text));
    const want = lines(text).map((l, i) => ({ line: i + 1, auditID: (JSON.parse(l) as { auditID: string }).auditID }));
    const plain = await runCli(['policy', 'test', 'preset:recommended', '--file', FIXTURE, '-o', 'json'], {
      cwd: p.dir,
      env: p.env,
    });
    const zipped = await runCli(['policy', 'test', 'preset:recommended', '--file', 'audit.log.gz', '-o', 'json'], {
      cwd: p.dir,
      env: p.env,
    });
    expect(zipped.stderr).toBe('');
    expect(zipped.code).toBe(0);
    const z = JSON.parse(zipped.stdout) as Report;
    const pl = JSON.parse(plain.stdout) as Report;
    expect(z.results.map((x) => ({ line: x.line, auditID: x.auditID }))).toEqual(want);
    expect(z.results.every((x) => x.file === 'audit.log.gz')).toBe(true);
    expect(z.results.map(({ file: _f, ...rest }) => rest)).toEqual(pl.results.map(({ file: _f, ...rest }) => rest));
  });
});
