// `audit-lab policy test` as a user runs it: through `run(argv, io)`, the built CLI as a process for
// stdin and the terminal (run `npm run build` first).
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { decodeBatch } from '../../src/receiver/decode.js';
import { displayWidth } from '../../src/ui/width.js';
import { BIN, CliProcess, ROOT, runCli, runInPty } from '../harness/cli.js';
import { tempDir, testDir } from '../harness/lab.js';

const FIXTURES = join(ROOT, 'test/fixtures/policy');
const AUDIT_LOG = join(FIXTURES, 'audit.log');

interface Result {
  file: string;
  line: number;
  auditID: string;
  stage: string;
  rule: number | null;
  ruleDescription: string | null;
  level: string;
  omitStages: string[];
  omitted: boolean;
  omitManagedFields: boolean;
  written: boolean;
  capturedBytes: number;
  estimatedBytes: number;
}
interface Report {
  policy: string;
  results: Result[];
  summary: {
    captured: { events: number; bytes: number };
    policy: {
      events: number;
      bytes: number;
      droppedNone: number;
      droppedStage: number;
      byLevel: Record<string, { events: number; bytes: number }>;
    };
    underCaptured: number;
  };
}

let lines: Record<string, unknown>[];
beforeAll(async () => {
  lines = (await readFile(AUDIT_LOG, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
});

async function report(
  policy: string,
  extra: string[] = ['--events', AUDIT_LOG],
  env: NodeJS.ProcessEnv = {},
): Promise<Report> {
  const r = await runCli(['policy', 'test', policy, ...extra, '-o', 'json'], { env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** The bytes of a fixture line as the API server would write it at `level`. */
function bytesAt(line: number, level: string): number {
  const e: Record<string, unknown> = { ...lines[line - 1]!, level };
  if (level === 'Metadata' || level === 'Request') delete e.responseObject;
  if (level === 'Metadata') delete e.requestObject;
  return Buffer.byteLength(JSON.stringify(e)) + 1;
}

describe('policy test with each preset', () => {
  it('preset:metadata: rule 0 and Metadata for every event; bodies gone from the estimate', async () => {
    const rep = await report('preset:metadata');
    expect(rep.results).toHaveLength(20);
    expect(rep.results.map((r) => r.auditID)).toEqual(lines.map((l) => l.auditID));
    for (const r of rep.results)
      expect(r).toMatchObject({ rule: 0, level: 'Metadata', omitted: false, written: true, omitManagedFields: false });
    const secret = rep.results[7]!;
    expect(secret.auditID).toBe('5b1c0008-8a2e-4c1f-9d3b-0e7f6a5c4b08');
    expect(secret.estimatedBytes).toBe(bytesAt(8, 'Metadata'));
    expect(secret.estimatedBytes).toBeLessThan(secret.capturedBytes);
    expect(rep.summary.policy.byLevel.Metadata).toEqual({
      events: 20,
      bytes: rep.results.reduce((n, r) => n + bytesAt(r.line, 'Metadata'), 0),
    });
    expect(rep.summary.captured.bytes).toBe((await readFile(AUDIT_LOG)).length);
  });

  it('preset:request-response: everything at RequestResponse; events captured lower are flagged', async () => {
    const rep = await report('preset:request-response');
    for (const r of rep.results)
      expect(r).toMatchObject({ rule: 0, level: 'RequestResponse', omitStages: [], written: true });
    expect(rep.summary.underCaptured).toBe(lines.filter((l) => l.level === 'Metadata').length);
    expect(rep.summary.policy.events).toBe(20);
  });

  it('preset:recommended: the rule each event matches, its level and its stage decision', async () => {
    const rep = await report('preset:recommended');
    const got = rep.results.map((r) => [r.line, r.rule, r.level, r.omitted]);
    expect(got).toEqual([
      [1, 0, 'None', false], // /healthz: None writes nothing, whatever the stage
      [2, 0, 'None', true],
      [3, 0, 'None', false],
      [4, 0, 'None', false],
      [5, 1, 'None', true], // lease renewal
      [6, 1, 'None', false],
      [7, 2, 'None', false], // events
      [8, 5, 'Metadata', false], // a secret read: no content
      [9, 5, 'Metadata', false], // a configmap
      [10, 5, 'Metadata', false], // a tokenreview
      [11, 6, 'RequestResponse', false], // RBAC grant
      [12, 6, 'RequestResponse', false], // RBAC delete
      [13, 7, 'Metadata', false], // reads
      [14, 8, 'Request', false], // everything else
      [15, 3, 'None', false], // kube-proxy watch
      [16, 4, 'None', false], // kubelet reads its node
      [17, 8, 'Request', false],
      [18, 7, 'Metadata', false],
      [19, 8, 'Request', false],
      [20, 8, 'Request', true], // RequestReceived is omitted
    ]);
    expect(rep.results[19]).toMatchObject({
      stage: 'RequestReceived',
      written: false,
      omitStages: ['RequestReceived'],
    });
    expect(rep.results[7]!.ruleDescription).toBe(
      'resources={secrets,configmaps,serviceaccounts/token},authentication.k8s.io/tokenreviews',
    );
    // omitManagedFields: the granted binding is written without its managedFields.
    const crb = rep.results[10]!;
    expect(crb.omitManagedFields).toBe(true);
    expect(crb.estimatedBytes).toBeLessThan(bytesAt(11, 'RequestResponse'));
    expect(rep.summary.policy).toMatchObject({ events: 10, droppedNone: 9, droppedStage: 1 });
  });

  it('the table: the summary against what was captured, no row per event', async () => {
    const r = await runCli(['policy', 'test', 'preset:recommended', '--events', AUDIT_LOG]);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toBe(`policy preset:recommended on ${AUDIT_LOG}: 20 events`);
    expect(out.filter((l) => /^\d+ {2}/.test(l))).toEqual([]);
    expect(out.find((l) => l.startsWith('None (not written)'))).toMatch(/-\s+-\s+9\s+-$/);
    expect(r.stdout).toMatch(/\n10 of 20 events would be written, [\d.]+ KiB instead of 20 KiB \(-\d+%\)\n$/);
    expect(r.stderr).toContain('1 event was captured at a lower level than this policy gives');
  });

  it('--per-event: a row per event, then the summary', async () => {
    const r = await runCli(['policy', 'test', 'preset:recommended', '--events', AUDIT_LOG, '--per-event']);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toMatch(/^LINE\s+STAGE\s+VERB\s+USER\s+REQUEST\s+RULE\s+WRITES$/);
    expect(out.filter((l) => /^\d+ {2}/.test(l))).toHaveLength(20);
    expect(out.find((l) => l.startsWith('8 '))).toMatch(
      /^8\s+Complete\s+get\s+kubernetes-admin\s+secrets default\/db-password\s+#5 resources=.*\s+Metadata$/,
    );
    expect(out.find((l) => l.startsWith('20 '))).toMatch(/\s+no \(omitted\)$/);
    expect(out.find((l) => l.startsWith('1 '))).toMatch(/\s#0 urls=\/healthz\*.*\s+no \(None\)$/);
    expect(out[21]).toBe('');
    expect(out[22]).toBe(`policy preset:recommended on ${AUDIT_LOG}: 20 events`);
    expect(r.stdout).toMatch(/\n10 of 20 events would be written, [\d.]+ KiB instead of 20 KiB \(-\d+%\)\n$/);
  });

  it('--per-event on an 80-column terminal: every row fits, the rule by number when there is no room for more', async () => {
    const r = await runInPty(['policy', 'test', 'preset:recommended', '--events', AUDIT_LOG, '--per-event'], {
      cols: 80,
      env: { NO_COLOR: '1' },
    });
    expect(r.code).toBe(0);
    const rows = r.output.split('\n').filter((l) => /^(LINE|\d+) {2}/.test(l));
    expect(rows).toHaveLength(21);
    for (const row of rows) expect(displayWidth(row), row).toBeLessThanOrEqual(80);
    expect(rows.find((l) => l.startsWith('11 '))).toMatch(
      /^11\s+Complete\s+create\s+\S+\s+rbac\.\S*…\s+#6 \S*\s+RequestResponse$/,
    );
  });

  it('the summary, its notes, the refused lines and the hint fit an 80-column terminal, each wrapped under itself', async () => {
    const dir = await testDir();
    const log = join(dir, 'mixed.log');
    const junk = Array.from(
      { length: 3 },
      (_, i) => `this line ${i} is not an audit event at all, but a long sentence that goes well past eighty columns`,
    );
    await writeFile(log, `${(await readFile(AUDIT_LOG, 'utf8')).split('\n')[0]}\n${junk.join('\n')}\n`);
    const r = await runInPty(['policy', 'test', 'preset:recommended', '--file', log], {
      cols: 80,
      env: { NO_COLOR: '1' },
    });
    expect(r.code).toBe(2);
    const lines = r.output.replace(/\r/g, '').split('\n');
    for (const line of lines) expect(displayWidth(line), line).toBeLessThanOrEqual(80);
    expect(r.output).toMatch(/^summary \(bytes with the policy/m);
    expect(r.output).toMatch(/^error: 3 lines are not audit events/m);
    // A refused line's wrap stays under it, deeper than the list.
    const item = lines.findIndex((l) => l.startsWith(`  ${log}:2: `));
    expect(lines[item + 1]).toMatch(/^ {4}\S/);
  });

  it('--per-event over several files: the file and line, the file cut from its start to fit', async () => {
    const dir = await testDir();
    const [a, b] = [join(dir, 'audit-2026-11-29T10-00-00.000.log'), join(dir, 'audit.log')];
    await writeFile(a, `${JSON.stringify(lines[0])}\n`);
    await writeFile(b, `${JSON.stringify(lines[1])}\n`);
    const r = await runInPty(['policy', 'test', 'preset:recommended', '--per-event', '--file', a, b], {
      cols: 80,
      env: { NO_COLOR: '1' },
    });
    expect(r.code).toBe(0);
    const rows = r.output.split('\n').filter((l) => /^(…|audit)\S*:\d+ /.test(l));
    expect(rows.map((l) => l.split(' ')[0])).toEqual(['…0.000.log:1', 'audit.log:1']);
  });

  it('on a terminal, the summary says how to see each event', async () => {
    const r = await runInPty(['policy', 'test', 'preset:recommended', '--events', AUDIT_LOG], {
      env: { NO_COLOR: '1' },
    });
    expect(r.code).toBe(0);
    expect(r.output).toContain('one row per event: --per-event');
  });

  it('--per-event is for the table', async () => {
    const r = await runCli([
      'policy',
      'test',
      'preset:recommended',
      '--events',
      AUDIT_LOG,
      '--per-event',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --per-event is for the table: -o json lists every event already\n');
  });
});

/**
 * Nothing is held back until the input ends: each verdict is out once its event is read, so memory
 * stays flat however long the log (npm run bench:policy prints the peak RSS over 200,000 events).
 */
describe('policy test prints as it reads', () => {
  const running: CliProcess[] = [];
  afterAll(() => Promise.all(running.map((c) => c.stop('SIGKILL'))));
  const text = (from: number, to: number) =>
    lines
      .slice(from, to)
      .map((l) => `${JSON.stringify(l)}\n`)
      .join('');

  const id = (n: number) => `5b1c00${String(n).padStart(2, '0')}-`;
  it.each<[string[], (n: number) => RegExp]>([
    [['-o', 'jsonl'], (n) => new RegExp(`"auditID":"${id(n)}`)],
    [['-o', 'json'], (n) => new RegExp(`"auditID": "${id(n)}`)],
    [['-o', 'yaml'], (n) => new RegExp(`auditID: ${id(n)}`)],
    [['-o', 'name'], (n) => new RegExp(`^event/${id(n)}`, 'm')],
    [['--per-event'], (n) => new RegExp(`^${n}\\s+(Complete|Received)\\s`, 'm')],
    [['-o', 'wide'], (n) => new RegExp(`^${n}\\s+${id(n)}`, 'm')],
  ])('%j: the verdicts on what was read so far, while standard input is still open', async (flags, verdict) => {
    const child = spawn(process.execPath, [BIN, 'policy', 'test', 'preset:recommended', '--file', '-', ...flags], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const cli = new CliProcess(child);
    running.push(cli);
    child.stdin.write(text(0, 3));
    await cli.waitFor(verdict(3), 'the third verdict');
    expect(cli.stdout).not.toMatch(verdict(4));
    child.stdin.end(text(3, 20));
    const r = await cli.exited;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(verdict(20));
  });

  it('-o json is the document JSON.stringify writes, with and without results; -o yaml the same document', async () => {
    const dir = await testDir();
    const refusedOnly = join(dir, 'refused.log');
    await writeFile(refusedOnly, '{"foo":1}\n');
    for (const [file, code, results] of [
      [AUDIT_LOG, 0, 20],
      [refusedOnly, 2, 0],
    ] as const) {
      const json = await runCli(['policy', 'test', 'preset:recommended', '--file', file, '-o', 'json']);
      expect(json.code).toBe(code);
      const doc = JSON.parse(json.stdout) as Report & { refusedCount: number };
      expect(doc.results).toHaveLength(results);
      expect(json.stdout).toBe(`${JSON.stringify(doc, null, 2)}\n`);
      const yaml = await runCli(['policy', 'test', 'preset:recommended', '--file', file, '-o', 'yaml']);
      expect(yaml.code).toBe(code);
      expect(parseYaml(yaml.stdout)).toEqual(doc);
    }
  });
});

describe('policy test POLICY after --file', () => {
  it('-- ends the files of --file, so POLICY may come after them, as the error about it says', async () => {
    const r = await runCli(['policy', 'test', '-o', 'json', '--file', AUDIT_LOG, '--', 'preset:recommended']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).policy).toBe('preset:recommended');
  });
});

describe('policy test --sink', () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    home = await tempDir();
    const streams = join(home.dir, 'lab1', 'streams');
    await mkdir(streams, { recursive: true });
    const text = (from: number, to: number) =>
      `${lines
        .slice(from, to)
        .map((l) => JSON.stringify(l))
        .join('\n')}\n`;
    // Rotated like --audit-log-maxbackup: .log.2 oldest, then .log.1, then .log.
    await writeFile(join(streams, 'default.log.2'), text(0, 2));
    await writeFile(join(streams, 'default.log.1'), text(2, 4));
    await writeFile(join(streams, 'default.log'), text(4, 5));
    await writeFile(join(streams, 'other.log'), text(10, 11));
  });
  afterAll(() => home.cleanup());

  it('reads the sink stream and its rotated files, oldest first', async () => {
    const rep = await report('preset:metadata', ['--sink', 'default', '--name', 'lab1'], { AUDIT_LAB_HOME: home.dir });
    expect(rep.results.map((r) => r.auditID)).toEqual(lines.slice(0, 5).map((l) => l.auditID));
    expect(rep.results.map((r) => `${r.file.split('/').pop()}:${r.line}`)).toEqual([
      'default.log.2:1',
      'default.log.2:2',
      'default.log.1:1',
      'default.log.1:2',
      'default.log:1',
    ]);
  });

  it('a sink with nothing stored is exit 2 with the place it looked', async () => {
    const r = await runCli(['policy', 'test', 'preset:metadata', '--sink', 'nope', '--name', 'lab1'], {
      env: { AUDIT_LAB_HOME: home.dir },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `error: no events stored for sink "nope" of lab "lab1" (looked in ${join(home.dir, 'lab1', 'streams')})`,
    );
  });
});

describe('policy test refuses bad input with exit 2 and no stack', () => {
  it.each<[string, string[], string]>([
    [
      "an invalid policy, with upstream's message",
      [join(FIXTURES, 'invalid-policy.yaml'), '--events', AUDIT_LOG],
      `error: ${join(FIXTURES, 'invalid-policy.yaml')}: [omitStages[0]: Invalid value: "ResponseCompleted": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic, rules[0].level: Unsupported value: "metadata": supported values: "None", "Metadata", "Request", "RequestResponse", rules[0].nonResourceURLs[0]: Invalid value: "healthz": non-resource URL rules must begin with a '/' character, rules[1].nonResourceURLs: Invalid value: ["/healthz*"]: rules cannot apply to both regular resources and non-resource URLs]\n`,
    ],
    [
      'unknown fields and wrong types, with line numbers',
      ['test/fixtures/policy/typo-policy.yaml', '--events', AUDIT_LOG],
      'error: invalid policy:\n  test/fixtures/policy/typo-policy.yaml:5:5: unknown field "rules[0].verb"\n  test/fixtures/policy/typo-policy.yaml:8:9: unknown field "rules[0].resources[0].resource"\n  test/fixtures/policy/typo-policy.yaml:10:24: rules[1].omitManagedFields: expected true or false, got a string\n',
    ],
    [
      'an unknown preset, listing the presets',
      ['preset:strict', '--events', AUDIT_LOG],
      'error: unknown policy preset "strict": the presets are preset:metadata, preset:recommended, preset:request-response\n',
    ],
    [
      'a missing policy file',
      ['nothere.yaml', '--events', AUDIT_LOG],
      'error: cannot read policy nothere.yaml: no such file\n',
    ],
    [
      'a missing events file',
      ['preset:metadata', '--events', 'nothere.log'],
      'error: cannot read audit log nothere.log: no such file\n',
    ],
    [
      'a missing --file',
      ['preset:metadata', '--file', AUDIT_LOG, 'nothere.log'],
      'error: cannot read audit log nothere.log: no such file\n',
    ],
    [
      'no events given',
      ['preset:metadata'],
      'error: give the events to test the policy on: --file FILE (an audit log, as --audit-log-path writes it) or --sink NAME\n',
    ],
    [
      'both --events and --sink',
      ['preset:metadata', '--events', AUDIT_LOG, '--sink', 'default'],
      'error: give either --file FILE or --sink NAME, not both\n',
    ],
    [
      'POLICY after --file, which took it as one more file',
      ['--file', AUDIT_LOG, 'preset:recommended'],
      `error: missing required argument 'POLICY': --file takes one or more files, so "preset:recommended" was read as a file; put POLICY before --file, or end the files with --\n`,
    ],
    ['no POLICY and no --file', ['--sink', 'default'], "error: missing required argument 'POLICY'\n"],
  ])('%s', async (_name, args, stderrStart) => {
    const r = await runCli(['policy', 'test', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.startsWith(stderrStart)).toBe(true);
    expect(r.stderr).not.toMatch(/crashed|\n\s+at /);
    expect(r.stdout).toBe('');
  });
});

/** File names, file content and event fields reach a person escaped; -o json stays exact. */
describe('policy test with hostile names and fields', () => {
  const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  const USER = '\x1b[2J\x1b]0;pwned\x07\rroot\u202e';
  let dir: { dir: string; cleanup: () => Promise<void> };
  let events: string;
  beforeAll(async () => {
    dir = await tempDir();
    events = join(dir.dir, 'ev\x1b[31m\u202e.log');
    const e = { ...lines[7]!, user: { username: USER }, requestURI: '/api/v1/namespaces/x\x9b2J/secrets' };
    await writeFile(events, `${JSON.stringify(e)}\n`);
  });
  afterAll(() => dir.cleanup());

  it('the table and its heading show the file name and the event fields escaped', async () => {
    const r = await runCli(['policy', 'test', 'preset:recommended', '--events', events, '-o', 'wide']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    const out = r.stdout.split('\n');
    expect(out).toContain(`policy preset:recommended on ${dir.dir}/ev\\x1b[31m\\u202e.log: 1 event`);
    expect(out.find((l) => l.startsWith('1 '))).toContain('\\x1b[2J\\x1b]0;pwned\\x07\\x0droot\\u202e');
  });

  it('-o json keeps the exact strings', async () => {
    const rep = (await report('preset:recommended', ['--events', events])) as Report & {
      events: string;
      results: { user: string }[];
    };
    expect(rep.events).toBe(events);
    expect(rep.results[0]!.user).toBe(USER);
  });

  it('errors quoting a file name or its content print them escaped', async () => {
    const missing = await runCli(['policy', 'test', 'preset:metadata', '--events', 'no\x1b[2J\u202e.log']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe('error: cannot read audit log no\\x1b[2J\\u202e.log: no such file');
    expect(missing.stderr).not.toMatch(RAW);
    const policy = join(dir.dir, 'p\x1b]0;pwned\x07.yaml');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: "Meta\x9bdata\u202e"\n');
    const bad = await runCli(['policy', 'test', policy, '--events', AUDIT_LOG]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toMatch(RAW);
    expect(bad.stderr).toContain('p\\x1b]0;pwned\\x07.yaml');
    expect(bad.stderr).toContain('Meta\\x9bdata\\u202e');
  });
});

/** `policy test` reads each line with the receiver's own check (audit/eventShape.ts). */
describe('policy test refuses what the receiver refuses: one decoder, one verdict', () => {
  const good = (id: string) => JSON.stringify({ ...lines[0]!, auditID: id });
  const BAD = [
    '{"foo":1}',
    '{"kind":"Event","auditID":"broken", "stage":',
    JSON.stringify({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: [
        { auditID: 'x', stage: 'ResponseComplete', level: 'Metadata' },
        { auditID: 'y', stage: 'Done', level: 'Metadata' },
      ],
    }),
    JSON.stringify({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v2',
      auditID: 'z',
      stage: 'ResponseComplete',
      level: 'Metadata',
    }),
    '42',
  ];
  let dir: { dir: string; cleanup: () => Promise<void> };
  let file: string;
  beforeAll(async () => {
    dir = await tempDir();
    file = join(dir.dir, 'events.jsonl');
    // Lines 1, 3 and 9 are events; 2, 4, 5, 6 and 8 are not; 7 is blank.
    await writeFile(
      file,
      `${[good('e1'), BAD[0], good('e3'), BAD[1], BAD[2], BAD[3], '', BAD[4], good('e9')].join('\n')}\n`,
    );
  });
  afterAll(() => dir.cleanup());

  const REASONS = [
    [2, 'no kind; want an EventList or an Event (audit.k8s.io/v1 or v1beta1)'],
    [4, 'malformed JSON: Unexpected end of JSON input'],
    [5, 'items[1]: stage "Done" is not an audit stage'],
    [6, 'unsupported apiVersion "audit.k8s.io/v2" (want audit.k8s.io/v1 or audit.k8s.io/v1beta1)'],
    [8, 'JSON number; want an EventList or an Event'],
  ] as const;

  it('judges the events, lists every other line with its number and reason, and exits 2', async () => {
    const r = await runCli(['policy', 'test', 'preset:metadata', '--events', file, '-o', 'wide']);
    expect(r.code).toBe(2);
    expect(r.stdout.split('\n')).toContain(
      `policy preset:metadata on ${file}: 3 events, 5 lines refused (not audit events)`,
    );
    expect(
      r.stdout
        .split('\n')
        .filter((l) => /^\d+ +e\d /.test(l))
        .map((l) => l.split(/ +/, 2).join(' ')),
    ).toEqual(['1 e1', '3 e3', '9 e9']);
    expect(r.stdout).toContain('3 of 3 events would be written');
    expect(r.stderr).toBe(
      `error: 5 lines are not audit events (the receiver would refuse them), so they were left out:\n${REASONS.map(([n, why]) => `  ${file}:${n}: ${why}`).join('\n')}\n` +
        'hint: each line must be an audit.k8s.io/v1 (or v1beta1) Event or EventList as JSON, as --audit-log-path writes them\n',
    );
  });

  it('-o json: the verdicts and the refused lines, exit 2', async () => {
    const r = await runCli(['policy', 'test', 'preset:metadata', '--events', file, '-o', 'json']);
    expect(r.code).toBe(2);
    const rep = JSON.parse(r.stdout) as Report & { refused: { file: string; line: number; reason: string }[] };
    expect(rep.results.map((x) => [x.line, x.auditID, x.rule])).toEqual([
      [1, 'e1', 0],
      [3, 'e3', 0],
      [9, 'e9', 0],
    ]);
    expect(rep.refused).toEqual(REASONS.map(([line, reason]) => ({ file, line, reason })));
  });

  it("each reason is the receiver's own (decodeBatch, fast path and plain), without its 'body' prefix", () => {
    for (const [i, text] of BAD.entries()) {
      for (const fast of [true, false]) {
        let said = '';
        try {
          decodeBatch(Buffer.from(text), { fast });
        } catch (err) {
          said = (err as Error).message;
        }
        expect(said.replace(/^body(: | is )/, ''), `${text} (fast: ${fast})`).toBe(REASONS[i]![1]);
      }
    }
  });

  it('a YAML syntax error shows the line, the one before and a caret', async () => {
    const policy = join(dir.dir, 'indent.yaml');
    await writeFile(
      policy,
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: "Metadata\n  - level: None\n',
    );
    const r = await runCli(['policy', 'test', policy, '--events', AUDIT_LOG]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: invalid policy:\n  ${policy}:6:1: Missing closing "quote\n    5 |   - level: None\n    6 | \n      | ^\nhint: see https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#audit-policy\n`,
    );
  });
});
