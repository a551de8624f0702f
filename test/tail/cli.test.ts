/**
 * `audit-lab tail` as a process: the built CLI (run `npm run build` first) against a lab in a
 * temporary AUDIT_LAB_HOME. stdout and stderr are pipes, so nothing may be coloured.
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writePidFile } from '../../src/daemon/daemon.js';
import type { LabPaths } from '../../src/lab/paths.js';
import { ANSI, type CliProcess, ROOT, runProcess } from '../harness/cli.js';
import { fixtureLines, FIXTURES, variant } from '../harness/events.js';
import { homeEnv, makeLab, putFixture, removeHome, runInHome, startInHome, tempHome } from '../harness/lab.js';

let home: string;
let paths: LabPaths;
let def: string[];
let sec: string[];
const running: CliProcess[] = [];

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/commands/tail.js')))
    throw new Error('dist/ has no tail command: run `npm run build` first');
  def = await fixtureLines('default.log');
  sec = await fixtureLines('secrets.log');
});

beforeEach(async () => {
  home = await tempHome();
  paths = await makeLab(home);
  await putFixture(paths, 'default.log');
  await putFixture(paths, 'secrets.log');
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop('SIGKILL');
  await removeHome(home);
});

const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const ids = (stdout: string) => lines(stdout).map((l) => (JSON.parse(l) as { auditID: string }).auditID.slice(0, 8));

/**
 * Both sinks merged by time: d = default.log, s = secrets.log, by line index. d3 and s3 are one
 * request's ResponseComplete as each sink holds it: shown once, s3 (RequestResponse, the richer).
 */
const MERGED = ['d0', 's0', 's1', 'd1', 'd2', 's2', 's3', 'd4', 'd5', 'd6', 'd7', 'd8', 'd9'];
const line = (ref: string) => (ref[0] === 'd' ? def : sec)[Number(ref.slice(1))]!;

describe('tail --no-follow', () => {
  it('-o jsonl gives the stored lines byte for byte, both sinks merged by time', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(MERGED.map((ref) => `${line(ref)}\n`).join(''));
  });

  it("-o jsonl with --sink is that sink's file, exactly", async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '-o', 'jsonl']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(await readFile(join(FIXTURES, 'default.log'), 'utf8'));
  });

  it('-o jsonl never re-encodes a line (spacing, escapes, key order, non-ASCII are kept)', async () => {
    const odd =
      '{"stage": "ResponseComplete",  "kind":"Event", "apiVersion":"audit.k8s.io/v1", "level":  "Metadata", "auditID":"0dd11111-0000-4000-8000-000000000000", "verb":"get", "user":{"username":"j\\u00e9r\\u00f4me ✓"}, "requestReceivedTimestamp":"2024-05-01T10:00:06.500000Z", "stageTimestamp":"2024-05-01T10:00:06.600000Z"}';
    await writeFile(join(paths.streamsDir, 'odd.log'), `${odd}\n`);
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'default,secrets,odd']);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(14);
    expect(out[out.indexOf(line('d6')) + 1]).toBe(odd);
  });

  it('reads rotated files first, oldest first', async () => {
    await rename(join(paths.streamsDir, 'default.log'), join(paths.streamsDir, 'default.log.2'));
    await writeFile(
      join(paths.streamsDir, 'default.log.1'),
      `${variant(def[9]!, 'r0000001', { requestReceivedTimestamp: '2024-05-01T10:01:00Z', stageTimestamp: '2024-05-01T10:01:00Z' })}\n`,
    );
    await writeFile(
      join(paths.streamsDir, 'default.log'),
      `${variant(def[9]!, 'c0000001', { requestReceivedTimestamp: '2024-05-01T10:02:00Z', stageTimestamp: '2024-05-01T10:02:00Z' })}\n`,
    );
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '-o', 'jsonl']);
    expect(ids(r.stdout)).toEqual([
      ...def.map((l) => (JSON.parse(l) as { auditID: string }).auditID.slice(0, 8)),
      'r0000001',
      'c0000001',
    ]);
  });

  // Expected: the fixture lines each filter keeps, in merged order.
  it.each([
    [
      ['--verb', 'get'],
      ['d5', 'd6', 'd8'],
    ],
    [
      ['--verb', 'create', '--verb', 'delete'],
      ['s0', 's1', 'd2', 'd7'],
    ],
    [
      ['--user', 'system:serviceaccount:default:reader'],
      ['s2', 's3'],
    ],
    [
      ['--user', 'system:anonymous', '--user', 'system:kube-scheduler'],
      ['d1', 'd6'],
    ],
    [['--namespace', 'kube-system'], ['d1']],
    [['--namespace', 'default', '--verb', 'patch'], ['d4']],
    [
      ['--resource', 'pods'],
      ['d0', 'd7'],
    ],
    [['--resource', 'pods/log'], ['d5']],
    [
      ['--resource', 'pods/*'],
      ['d0', 'd5', 'd7'],
    ],
    [['--resource', 'apps/deployments'], ['d2']],
    [['--resource', 'apps/deployments/scale'], ['d4']],
    // kubectl's names: a bare, singular or short name in any group
    [['--resource', 'deployments'], ['d2']],
    [['--resource', 'deploy'], ['d2']],
    [
      ['--resource', 'deployment/*'],
      ['d2', 'd4'],
    ],
    [
      ['--resource', 'po', '--resource', 'ns'],
      ['d0', 'd7', 'd8'],
    ],
    [['--resource', 'pod/log'], ['d5']],
    [['--resource', 'lease'], ['d1']],
    [
      ['--resource', 'secret', '--stage', 'responsecomplete'],
      ['s1', 's3'],
    ],
    [
      ['--resource', '*', '--verb', 'create'],
      ['s0', 's1', 'd2'],
    ],
    [
      ['--resource', 'coordination.k8s.io/leases', '--resource', 'namespaces'],
      ['d1', 'd8'],
    ],
    [
      ['--stage', 'RequestReceived'],
      ['s0', 's2'],
    ],
    [
      ['--resource', 'secrets', '--stage', 'ResponseComplete'],
      ['s1', 's3'],
    ],
    [['--code', '403'], ['s3']],
    [
      ['--code', '4xx'],
      ['s3', 'd8'],
    ],
    [['--code', '403', '--sink', 'default'], ['d3']],
    [
      ['--code', '201', '--code', '404'],
      ['s1', 'd2', 'd8'],
    ],
    [
      ['--code', '2xx', '--resource', 'pods'],
      ['d0', 'd7'],
    ],
    [
      ['--since', '2024-05-01T10:00:07Z'],
      ['d7', 'd8'],
    ],
    [
      ['--since', '2024-05-01T12:00:04+02:00', '--sink', 'secrets'],
      ['s2', 's3'],
    ],
    [['--sink', 'secrets', '--code', '201'], ['s1']],
    [['--verb', 'watch', '--code', '4xx'], []],
  ])('%j', async (args, want) => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', ...args]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(want.map((ref) => `${line(ref)}\n`).join(''));
  });

  it('--since with a duration: old events are left out, recent ones shown', async () => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, '.000000Z');
    await appendFile(
      join(paths.streamsDir, 'default.log'),
      `${variant(def[0]!, 'fresh001', { requestReceivedTimestamp: now, stageTimestamp: now })}\n`,
    );
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--since', '10m']);
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toEqual(['fresh001']);
  });

  it('-o pretty: one aligned line per event, no colour off a terminal', async () => {
    const r = await runInHome(home, ['tail', '--no-follow']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(ANSI);
    const out = lines(r.stdout);
    expect(out).toHaveLength(13);
    expect(out[0]!.split(/ +/)).toEqual([
      '10:00:00.000',
      'default',
      'ResponseComplete',
      'kubernetes-admin',
      'list',
      '200',
      '12ms',
      'pods',
      'default',
    ]);
    expect(out[8]!.split(/ +/)).toEqual([
      '10:00:03.000',
      'default',
      'ResponseComplete',
      'kubernetes-admin',
      'get',
      '200',
      '2.10s',
      'pods/log',
      'default/nginx-7c5ddbdf54-x2k9p',
    ]);
    expect(out[12]!.split(/ +/).slice(5, 7)).toEqual(['200', '5m09s']);
    // Off a terminal: no header, and a long value is never cut.
    expect(r.stdout).not.toMatch(/TIME|…/);
    // Aligned: the user column starts at the same place on every line.
    expect(
      new Set(out.map((l) => l.indexOf(' ', l.indexOf('Re') + 16) >= 0 && l.search(/(kubernetes-admin|system:)/))).size,
    ).toBe(1);
  });

  it('-o wide adds source IP, user agent, request URI and audit ID', async () => {
    const r = await runInHome(home, [
      'tail',
      '--no-follow',
      '-o',
      'wide',
      '--utc',
      '--sink',
      'default',
      '--verb',
      'list',
    ]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(
      /^2024-05-01T10:00:00\.000Z +default +ResponseComplete +kubernetes-admin +list +200 +12ms +pods +default +172\.18\.0\.1 +kubectl\/v1\.31\.0 \(linux\/amd64\) kubernetes\/9edcffc +\/api\/v1\/namespaces\/default\/pods\?limit=500 +7f3c1b52-9a4e-4d2b-8c61-0e5a2f9d4b17$/,
    );
    expect(r.stdout).not.toMatch(ANSI);
  });

  it('times are local by default (the offset shown by -o wide), UTC with --utc', async () => {
    const args = ['tail', '--no-follow', '--sink', 'default', '--verb', 'list'];
    // The time zone is the process's own: a process of its own for it.
    const india = { TZ: 'Asia/Kolkata' };
    expect(lines((await runProcess(args, { env: homeEnv(home, india) })).stdout)[0]).toMatch(/^15:30:00\.000 /);
    expect(lines((await runProcess([...args, '--utc'], { env: homeEnv(home, india) })).stdout)[0]).toMatch(
      /^10:00:00\.000 /,
    );
    expect(lines((await runProcess([...args, '-o', 'wide'], { env: homeEnv(home, india) })).stdout)[0]).toMatch(
      /^2024-05-01T15:30:00\.000\+05:30 /,
    );
    expect(
      lines((await runProcess([...args, '-o', 'wide', '--utc'], { env: homeEnv(home, india) })).stdout)[0],
    ).toMatch(/^2024-05-01T10:00:00\.000Z /);
  });

  it('-o json with --no-follow is one document, an audit.k8s.io/v1 EventList of the stored events', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'json', '--sink', 'secrets', '--sink', 'default']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { kind: string; apiVersion: string; items: unknown[] };
    expect(list).toMatchObject({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1' });
    expect(list.items).toEqual(MERGED.map((ref) => JSON.parse(line(ref)) as unknown));
  });

  it('-o json of nothing is an empty EventList', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'json', '--verb', 'nosuchverb']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: [] });
  });

  it('leaves out lines the receiver would refuse, lists each at the end with its place and reason, shows the rest, exit 2', async () => {
    await appendFile(join(paths.streamsDir, 'default.log'), 'not json\n{"kind":"Event","verb":"get"\nnull\n');
    await appendFile(
      join(paths.streamsDir, 'default.log'),
      `${variant(def[0]!, 'after001', { requestReceivedTimestamp: '2024-05-01T10:05:00Z' })}\n`,
    );
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl']);
    expect(r.code).toBe(2);
    expect(ids(r.stdout)).toHaveLength(14);
    expect(ids(r.stdout).at(-1)).toBe('after001');
    const file = join(paths.streamsDir, 'default.log');
    expect(lines(r.stderr)).toEqual([
      'error: 3 lines are not audit events (the receiver would refuse them), so they were left out:',
      expect.stringMatching(new RegExp(`^  ${file}:11: malformed JSON: `)),
      expect.stringMatching(new RegExp(`^  ${file}:12: malformed JSON: `)),
      `  ${file}:13: JSON null; want an EventList or an Event`,
      'hint: each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them',
    ]);
    expect(r.stderr).not.toMatch(ANSI);
  });

  it('a reader that goes away (| head) ends it quietly with 0', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `${variant(def[0]!, `many${i}`)}\n`).join('');
    await appendFile(join(paths.streamsDir, 'default.log'), many);
    const cli = startInHome(home, ['tail', '--no-follow', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => s.length > 0, 'some output');
    cli.child.stdout!.destroy();
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      cli.child.on('close', (code) => resolve({ code, stderr: cli.stderr })),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each([
    [['--tail', '3'], MERGED.slice(-3)],
    [['--tail', '1', '--sink', 'secrets'], ['s3']],
    [
      ['--tail', '2', '--verb', 'create'],
      ['s1', 'd2'],
    ],
    [['--tail', '100'], MERGED],
    [['--tail', '0'], []],
    [['--tail', '-1'], MERGED],
  ])('%j: the last N stored events across the sinks, in time order, after the filters', async (args, want) => {
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(want.map((ref) => `${line(ref)}\n`).join(''));
  });

  it('--sink repeated or comma-separated reads those sinks together, merged by time, and no other', async () => {
    await writeFile(join(paths.streamsDir, 'other.log'), `${variant(def[0]!, 'other001')}\n`);
    const want = MERGED.map((ref) => `${line(ref)}\n`).join('');
    const repeated = await runInHome(home, [
      'tail',
      '--no-follow',
      '-o',
      'jsonl',
      '--sink',
      'secrets',
      '--sink',
      'default',
    ]);
    expect(repeated.code).toBe(0);
    expect(repeated.stdout).toBe(want);
    expect((await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'default,secrets'])).stdout).toBe(
      want,
    );
    expect((await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'other'])).stdout).toContain(
      'other001',
    );
  });

  it('an unknown sink among several is exit 2 and lists the sinks', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '--sink', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no sink named "nope".*: default, secrets/);
  });

  it('an unknown sink is exit 2 and lists the sinks', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no sink named "nope".*: default, secrets/);
  });

  it.each([
    [['--since', 'yesterday'], /--since "yesterday"/],
    [['--since', '10'], /--since "10"/],
    [['--code', '4x'], /--code "4x"/],
    [['--stage', 'Done'], /--stage "Done"/],
    [['--resource', 'a/b/c/d'], /--resource "a\/b\/c\/d"/],
    [['-o', 'yaml'], /yaml/],
  ])('%j is exit 2 naming the flag', async (args, message) => {
    const r = await runInHome(home, ['tail', '--no-follow', ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(ANSI);
  });
});

describe('tail (following)', () => {
  it('shows what is stored, then each line appended, across a rotation and a new sink; Ctrl-C prints a summary and exits 0', async () => {
    const cli = startInHome(home, ['tail', '-o', 'jsonl']);
    running.push(cli);
    const has = (id: string) => (s: string) => s.includes(`"auditID":"${id}`);
    await cli.waitFor((s) => lines(s).length === 13, 'the stored events');

    const d = (file: string, text: string) => appendFile(join(paths.streamsDir, file), text);
    const a = variant(def[0]!, 'append01');
    await d('default.log', `${a}\n`);
    await cli.waitFor(has('append01'), 'an appended line');

    // Half a line: must not show until its newline comes. Two later lines of another sink each
    // need a poll after the half line was written, so tail has looked at it at least once.
    const partial = variant(sec[1]!, 'partial1');
    const cut = partial.indexOf('"stage"'); // after the auditID
    await d('secrets.log', partial.slice(0, cut));
    for (const id of ['marker01', 'marker02']) {
      await d('default.log', `${variant(def[2]!, id)}\n`);
      await cli.waitFor(has(id), id);
    }
    expect(cli.stdout).not.toContain('partial1');
    await d('secrets.log', `${partial.slice(cut)}\n`);
    await cli.waitFor(has('partial1'), 'the completed line');

    // Rotation as the receiver does it: rename, then a new file.
    const beforeRotation = variant(def[7]!, 'lastold1');
    await d('default.log', `${beforeRotation}\n`);
    await rename(join(paths.streamsDir, 'default.log'), join(paths.streamsDir, 'default.log.1'));
    const afterRotation = variant(def[8]!, 'newfile1');
    await writeFile(join(paths.streamsDir, 'default.log'), `${afterRotation}\n`);
    await cli.waitFor(has('newfile1'), 'the first line after the rotation');

    const late = variant(sec[0]!, 'latesink');
    await writeFile(join(paths.streamsDir, 'late.log'), `${late}\n`);
    await cli.waitFor(has('latesink'), 'a new sink');

    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    const want = [
      ...MERGED.map(line),
      a,
      variant(def[2]!, 'marker01'),
      variant(def[2]!, 'marker02'),
      partial,
      beforeRotation,
      afterRotation,
      late,
    ];
    expect(lines(r.stdout)).toEqual(want);
    expect(r.stdout).not.toMatch(ANSI);
    expect(r.stderr).not.toMatch(ANSI);
    expect(lines(r.stderr)).toEqual([
      '20 events shown',
      '  by verb: create 7, get 4, list 4, delete 2, patch 1, update 1, watch 1',
      '  by user: kubernetes-admin 15, system:serviceaccount:default:reader 2, system:anonymous 1, system:kube-scheduler 1, system:node:audit-lab-control-plane 1',
      '  by code: 200 9, 201 5, - 3, 404 2, 403 1',
    ]);
  });

  it('--tail 2 shows the last two stored events, then every new one', async () => {
    const cli = startInHome(home, ['tail', '--tail', '2', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => lines(s).length === 2, 'the last two stored events');
    await appendFile(join(paths.streamsDir, 'secrets.log'), `${variant(sec[0]!, 'new00001')}\n`);
    await cli.waitFor((s) => s.includes('new00001'), 'the new event');
    const r = await cli.stop('SIGINT');
    expect(lines(r.stdout)).toEqual([line('d8'), line('d9'), variant(sec[0]!, 'new00001')]);
  });

  it('off a terminal, an empty tail says nothing while it waits, nor about the receiver on Ctrl-C', async () => {
    const empty = await tempHome();
    try {
      const lab = await makeLab(empty);
      // A receiver that runs (this process stands in for it): still not mentioned off a terminal.
      await writePidFile(lab, process.pid, 'https://127.0.0.1:8845');
      const cli = startInHome(empty, ['tail', '-o', 'jsonl']);
      running.push(cli);
      await writeFile(join(lab.streamsDir, 'default.log'), `${def[0]}\n`);
      await cli.waitFor((s) => s.includes(def[0]!), 'the first event');
      const r = await cli.stop('SIGINT');
      expect(r.stderr).not.toMatch(/waiting|receiver/);
    } finally {
      await removeHome(empty);
    }
  });

  it('--sink follows one sink only, with filters applied to new events too', async () => {
    const cli = startInHome(home, ['tail', '--sink', 'secrets', '--code', '4xx', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => lines(s).length === 1, 'the stored 4xx event');
    await appendFile(join(paths.streamsDir, 'default.log'), `${variant(def[3]!, 'otherink')}\n`);
    await appendFile(
      join(paths.streamsDir, 'secrets.log'),
      `${variant(sec[1]!, 'created1')}\n${variant(sec[3]!, 'denied01')}\n`,
    );
    await cli.waitFor((s) => s.includes('denied01'), 'the new 4xx event');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toEqual(['4b7e2c95', 'denied01']);
    expect(lines(r.stderr)[0]).toBe('2 events shown');
  });

  it('a line that is not an event while following: one warning, then the list and the count at the end, exit 2', async () => {
    const cli = startInHome(home, ['tail', '--sink', 'default', '-o', 'jsonl']);
    running.push(cli);
    await cli.waitFor((s) => lines(s).length === 10, 'the stored events');
    await appendFile(
      join(paths.streamsDir, 'default.log'),
      `garbage\n{"kind":"Nope"}\n${variant(def[0]!, 'good0001')}\n`,
    );
    await cli.waitFor((s) => s.includes('good0001'), 'the line after the bad ones');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(2);
    const err = lines(r.stderr);
    expect(err.filter((l) => l.startsWith('warning:') || l.startsWith('error:'))).toEqual([
      expect.stringMatching(/^warning: left out a line that is not an audit event \(.*default\.log:11: malformed JSON/),
      'error: 2 lines are not audit events (the receiver would refuse them), so they were left out:',
    ]);
    expect(err).toContain(
      `  ${join(paths.streamsDir, 'default.log')}:12: kind "Nope"; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)`,
    );
    expect(err).toContain('  refused: 2 lines not audit events, listed above');
  });
});

/**
 * An event's fields are written by whoever sent the request (username,
 * user agent, URI, object names). Shown to a person they must not drive the terminal; given to a
 * program (-o json, -o jsonl) they must stay exact.
 */
describe('tail with hostile event fields', () => {
  // Clear the screen, retitle the terminal, return to column 0 to forge a line; C1 CSI; RLO.
  const USER = '\x1b[2J\x1b]0;pwned\x07\rFAKE';
  const hostile = {
    user: { username: USER, groups: ['system:authenticated'] },
    userAgent: 'kubectl\u202egnp.exe',
    requestURI: '/api/v1/namespaces/ev\x9b31mil/pods/x\x1b[1A?limit=1',
    objectRef: { resource: 'pods', namespace: 'ev\x9b31mil', name: 'x\x1b[1A\x7f', apiVersion: 'v1' },
  };
  // Everything escapeText turns visible, and that a terminal would act on.
  const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  const VISIBLE = [
    '\\x1b[2J\\x1b]0;pwned\\x07\\x0dFAKE',
    'kubectl\\u202egnp.exe',
    'ev\\x9b31mil/x\\x1b[1A\\x7f',
    '/api/v1/namespaces/ev\\x9b31mil/pods/x\\x1b[1A?limit=1',
  ];
  let stored: string;

  beforeEach(async () => {
    stored = variant(def[0]!, 'hostile1', hostile);
    // JSON.stringify leaves C1, DEL and bidi characters raw in the stored line; jsonl must keep them.
    expect(stored).toMatch(/\u202e/);
    await appendFile(join(paths.streamsDir, 'default.log'), `${stored}\n`);
  });

  it.each([['pretty'], ['wide']])('-o %s shows every field escaped, visibly, and stays aligned', async (format) => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '--verb', 'list', '-o', format]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    const out = lines(r.stdout);
    expect(out).toHaveLength(3);
    const last = out.at(-1)!;
    expect(last).toContain(VISIBLE[0]);
    expect(last).toContain(VISIBLE[2]);
    if (format === 'wide') {
      expect(last).toContain(VISIBLE[1]);
      expect(last).toContain(VISIBLE[3]);
    }
    // Widths are those of the escaped text: the verb column starts at one place on every line.
    expect(new Set(out.map((l) => l.indexOf('  list  ')))).toEqual(new Set([out[0]!.indexOf('  list  ')]));
  });

  it('-o jsonl gives the stored line byte for byte', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '-o', 'jsonl']);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).at(-1)).toBe(stored);
  });

  it('-o json gives the exact strings', async () => {
    const r = await runInHome(home, ['tail', '--no-follow', '--sink', 'default', '-o', 'json']);
    expect(r.code).toBe(0);
    const events = (JSON.parse(r.stdout) as { items: (typeof hostile & { auditID: string })[] }).items;
    expect(events.at(-1)).toMatchObject({ auditID: 'hostile1', ...hostile });
  });

  it('the Ctrl-C summary counts the user under its escaped name', async () => {
    const cli = startInHome(home, ['tail', '--sink', 'default', '--verb', 'list']);
    running.push(cli);
    await cli.waitFor((s) => s.includes('FAKE'), 'the hostile event');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stderr).not.toMatch(RAW);
    expect(lines(r.stderr).find((l) => l.startsWith('  by user:'))).toContain(` ${VISIBLE[0]} 1,`);
  });

  it('a stream file whose name holds ESC: its warning is escaped', async () => {
    await writeFile(join(paths.streamsDir, 'ev\x1b[2Jil.log'), 'not json\n');
    const r = await runInHome(home, ['tail', '--no-follow', '-o', 'jsonl', '--sink', 'ev\x1b[2Jil']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr).toContain('ev\\x1b[2Jil.log:1: malformed JSON');
  });

  it.each([
    [['--stage', '\x1b[2J\x9b2J\u202eDone'], '--stage "\\u001b[2J\\x9b2J\\u202eDone"'],
    [['--sink', 'no\x9bpe\u202e'], 'no sink named "no\\x9bpe\\u202e"'],
    [['--\x1b[2Jverb'], "unknown option '--\\x1b[2Jverb'"],
  ])('an error quoting %j prints it escaped on stderr', async (args, shown) => {
    const r = await runInHome(home, ['tail', '--no-follow', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr).toContain(shown);
  });
});
