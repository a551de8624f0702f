/**
 * Every command a person reads at a terminal, as the built CLI in a real 80-column pseudo-terminal
 * (runInPty, util-linux `script`) with COLUMNS=80: no line it shows, stdout or stderr, is wider
 * than the terminal, measured in terminal columns, so the terminal wraps none of them. The tools
 * are absent (PATH holds none), so `status`, `list` and `doctor` have their longest things to say.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import stringWidth from 'string-width';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, type Handlers } from '../../src/cli.js';
import { captureIO, ROOT, runInPty, startInPty } from '../harness/cli.js';
import { fixtureLines, variant } from '../harness/events.js';
import { makeLab, putFixture, tempDir } from '../harness/lab.js';

const COLS = 80;
const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
const lines = (s: string) => plain(s).split('\n');

let home: string;
let bin: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  ({ dir: home, cleanup } = await tempDir('audit-lab-narrow-'));
  // node alone on PATH: no docker, kind or kubectl.
  bin = join(home, 'bin');
  await mkdir(bin);
  await symlink(process.execPath, join(bin, 'node'));
  const paths = await makeLab(join(home, 'labs'), ['default', 'secrets', 'controllers-and-schedulers']);
  await putFixture(paths, 'default.log');
  await putFixture(paths, 'secrets.log');
  const [, line] = await fixtureLines('default.log');
  const long = variant(line!, 'long0001', {
    user: { username: 'system:serviceaccount:very-long-namespace-name:a-controller-with-a-long-name' },
    objectRef: {
      resource: 'configmaps',
      namespace: 'kube-system',
      name: 'coredns-autoscaler-config-with-a-rather-long-generated-name-7c5ddbdf54',
      apiVersion: 'v1',
    },
  });
  await writeFile(join(paths.streamsDir, 'controllers-and-schedulers.log'), `${long}\n`);
});

afterAll(() => cleanup());

const env = () => ({
  PATH: bin,
  AUDIT_LAB_HOME: join(home, 'labs'),
  AUDIT_LAB_NO_RECEIVER: '1',
  COLUMNS: String(COLS),
  TZ: 'UTC',
});

async function shown(args: string[]): Promise<string[]> {
  const r = await runInPty(args, { cols: COLS, rows: 50, env: env() });
  // doctor finds no tools: exit 1.
  expect(r.code === 0 || r.code === 1, r.output).toBe(true);
  return lines(r.output);
}

function expectFits(out: readonly string[]): void {
  for (const l of out) expect(stringWidth(l), l).toBeLessThanOrEqual(COLS);
}

describe('at 80 columns', () => {
  it.each([
    ['status'],
    ['status -o wide'],
    ['list'],
    ['sink list'],
    ['sink list -o wide'],
    ['doctor'],
    ['doctor -o wide'],
    ['tail --no-follow'],
    ['top --no-follow --by user,verb'],
  ])('%s: no line is wider than the terminal', async (command) => {
    const out = await shown(command.split(' '));
    expect(out.filter((l) => l.trim() !== '').length).toBeGreaterThan(1);
    expectFits(out);
  });

  it('tail, followed and stopped with Ctrl-C: the summary of what was shown wraps under itself', async () => {
    const pty = startInPty(['tail'], { cols: COLS, rows: 50, env: env() });
    // The header and the 14 stored events (a request two sinks hold is shown once).
    await pty.waitFor(/(?:[^\n]*\n){15}/, 'every stored event');
    pty.type('\u0003');
    const r = await pty.exited;
    expect(r.code).toBe(0);
    const out = lines(r.output);
    expectFits(out);
    const byUser = out.findIndex((l) => l.startsWith('  by user: '));
    expect(out[byUser + 1]).toMatch(/^ {11}\S/);
  });

  it("doctor: a fix wraps under its own text, not at the terminal's first column", async () => {
    const out = await shown(['doctor']);
    const fix = out.findIndex((l) => /^ +fix: install kind/.test(l));
    expect(fix).toBeGreaterThan(0);
    const indent = out[fix]!.indexOf('install');
    expect(out[fix + 1]).toMatch(new RegExp(`^ {${indent}}\\S`));
  });

  const program = buildProgram(captureIO().io, {} as Handlers, '0.0.0', () => {});
  const walk = (cmd: Command, path: string[]): string[][] => [
    path,
    ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()])),
  ];
  it.each(walk(program, []).map((p) => [p.join(' ') || '(audit-lab)', p] as const))(
    '%s --help: no line is wider than the terminal',
    async (_label, path) => {
      const out = await shown([...path, '--help']);
      expect(out.join('\n')).toContain('Examples:');
      expectFits(out);
    },
  );
});
