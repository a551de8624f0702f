/**
 * `audit-lab tail` at a terminal: the built CLI in a real pseudo-terminal (runInPty, util-linux
 * `script`), where the header, the width and the notes on stderr depend on it being one.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writePidFile } from '../../src/daemon/daemon.js';
import type { LabPaths } from '../../src/lab/paths.js';
import { ROOT, runInPty, startInPty } from '../harness/cli.js';
import { fixtureLines, variant } from '../harness/events.js';
import { makeLab, putFixture, removeHome, tempHome } from '../harness/lab.js';

let home: string;
let paths: LabPaths;
let def: string[];

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/commands/tail.js')))
    throw new Error('dist/ has no tail command: run `npm run build` first');
  def = await fixtureLines('default.log');
});

beforeEach(async () => {
  home = await tempHome();
});

afterEach(async () => {
  await removeHome(home);
});

const env = () => ({ AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', TZ: 'UTC' });
const plain = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');
const rows = (s: string) =>
  plain(s)
    .split('\n')
    .filter((l) => l !== '');
const columnsOf = (l: string) => Array.from(l).length;

const LONG_USER = 'system:serviceaccount:very-long-namespace-name:a-controller-with-a-long-name';
const LONG_OBJECT = 'kube-system/coredns-autoscaler-config-with-a-rather-long-generated-name-7c5ddbdf54';

/** The fixtures' two sinks, and an event with long names in a third. */
async function variedLab(): Promise<void> {
  paths = await makeLab(home, ['default', 'secrets', 'controllers']);
  await putFixture(paths, 'default.log');
  await putFixture(paths, 'secrets.log');
  const [name, ns] = [LONG_OBJECT.split('/')[1], LONG_OBJECT.split('/')[0]];
  const long = variant(def[1]!, 'long0001', {
    user: { username: LONG_USER },
    objectRef: { resource: 'configmaps', namespace: ns, name, apiVersion: 'v1' },
    requestReceivedTimestamp: '2024-05-01T10:00:09.000000Z',
    stageTimestamp: '2024-05-01T10:00:09.004000Z',
  });
  await writeFile(join(paths.streamsDir, 'controllers.log'), `${long}\n`);
}

describe('tail at a terminal', () => {
  it('at 80 columns: a dim header, then one line per event, none wider than 80, long names cut in the middle', async () => {
    await variedLab();
    const r = await runInPty(['tail', '--no-follow'], { cols: 80, env: env() });
    expect(r.code).toBe(0);
    const out = rows(r.output);
    // Latency, stage and sink give way to the names.
    expect(out[0]).toMatch(/^TIME +USER +VERB +CODE +RESOURCE +OBJECT$/);
    expect(r.output).toMatch(/\u001b\[2mTIME/); // dim
    expect(out).toHaveLength(1 + 14);
    for (const l of out) expect(columnsOf(l), l).toBeLessThanOrEqual(80);
    const long = out.find((l) => l.includes('10:00:09.000'))!;
    expect(long).toMatch(/ system:\S*…\S*-name /);
    expect(long).toMatch(/ kube-sy\S*…\S*ddbdf54$/);
    expect(long).not.toContain(LONG_USER);
    // Both ends of a name are kept, so the scheduler is not the controller manager.
    expect(out.find((l) => l.includes('10:00:01.500'))).toMatch(/ system:\S*…\S*duler /);
  });

  it('a wider terminal shows more of each name, and still no line is wider', async () => {
    await variedLab();
    const r = await runInPty(['tail', '--no-follow'], { cols: 132, env: env() });
    const out = rows(r.output);
    expect(out[0]).toMatch(/ LATENCY /);
    for (const l of out) expect(columnsOf(l), l).toBeLessThanOrEqual(132);
    expect(out.find((l) => l.includes('controllers'))).toMatch(
      / system:ser\S*…\S*long-name .* kube-system\S*…\S*7c5ddbdf54$/,
    );
  });

  it('reading one sink leaves the SINK column out, and a stage that never changes too; -o wide keeps them', async () => {
    await variedLab();
    const one = rows((await runInPty(['tail', '--no-follow', '--sink', 'default'], { cols: 90, env: env() })).output);
    const both = rows(
      (await runInPty(['tail', '--no-follow', '--sink', 'default', '--sink', 'secrets'], { cols: 100, env: env() }))
        .output,
    );
    // default's events are all ResponseComplete: STAGE would say Complete on every line.
    expect(one[0]).toMatch(/^TIME +USER +VERB +CODE +LATENCY +RESOURCE +OBJECT$/);
    expect(both[0]).toMatch(/^TIME +SINK +STAGE +USER /);
    for (const l of one) expect(columnsOf(l), l).toBeLessThanOrEqual(90);
    for (const l of both) expect(columnsOf(l), l).toBeLessThanOrEqual(100);
    const wide = rows(
      (await runInPty(['tail', '--no-follow', '--sink', 'default', '-o', 'wide'], { cols: 80, env: env() })).output,
    );
    expect(wide[0]).toMatch(/^TIME +SINK /);
  });

  it('-o wide shows everything, uncut', async () => {
    await variedLab();
    const r = await runInPty(['tail', '--no-follow', '-o', 'wide', '--sink', 'controllers'], { cols: 80, env: env() });
    const out = rows(r.output);
    expect(out[0]).toMatch(/^TIME +SINK .* AUDIT-ID$/);
    expect(out[1]).toContain(LONG_USER);
    expect(out[1]).toContain(LONG_OBJECT);
    expect(r.output).not.toContain('…');
  });

  it.each([['jsonl'], ['json']])('-o %s gets neither header nor cuts nor colour', async (format) => {
    await variedLab();
    const r = await runInPty(['tail', '--no-follow', '-o', format, '--sink', 'controllers'], { cols: 80, env: env() });
    expect(r.output).not.toMatch(/TIME|…|\u001b\[/);
    expect(r.output).toContain(LONG_OBJECT.split('/')[1]);
  });

  it('following an empty lab says, on stderr, that it waits and for which sinks; Ctrl-C says the receiver keeps running and how to stop it', async () => {
    paths = await makeLab(home, ['default', 'full']);
    // A running receiver: this process stands in for it (a live pid with its start time).
    await writePidFile(paths, process.pid, 'https://127.0.0.1:8845');
    const pty = startInPty(['tail'], { cols: 80, env: env() });
    await pty.waitFor(/waiting for events in sinks default, full \(Ctrl-C to stop\)/, 'the waiting note');
    pty.type('\u0003');
    const r = await pty.exited;
    expect(r.code).toBe(0);
    const out = plain(r.output);
    expect(out).toMatch(/0 events shown/);
    // Wrapped to the terminal's width: read as one line.
    const note = out.replace(/\n +/g, ' ');
    expect(note).toContain(`the receiver keeps running in the background (pid ${process.pid})`);
    expect(note).toContain('`audit-lab down --keep-cluster` stops it and leaves the cluster');
  });

  it('--no-follow with nothing to show says so on the terminal', async () => {
    paths = await makeLab(home, ['default', 'full']);
    const r = await runInPty(['tail', '--no-follow'], { cols: 80, env: env() });
    expect(r.code).toBe(0);
    expect(rows(r.output)).toEqual(['no events in sinks default, full']);
  });

  it('with no receiver running, Ctrl-C says nothing about one', async () => {
    paths = await makeLab(home, ['default']);
    const pty = startInPty(['tail', '--name', 'audit-lab'], { cols: 80, env: env() });
    await pty.waitFor(/waiting for events in sink default \(Ctrl-C/, 'the waiting note');
    pty.type('\u0003');
    const r = await pty.exited;
    expect(r.code).toBe(0);
    expect(plain(r.output)).toMatch(/0 events shown/);
    expect(r.output).not.toMatch(/receiver/);
  });

  it('with stored events, no waiting note: the events are shown under the header', async () => {
    paths = await makeLab(home, ['default']);
    await putFixture(paths, 'default.log');
    const pty = startInPty(['tail', '--tail', '2'], { cols: 80, env: env() });
    await pty.waitFor(/nodes/, 'the last stored event');
    pty.type('\u0003');
    const r = await pty.exited;
    const out = rows(r.output);
    // One sink read: no SINK column (as kubectl logs names no container when there is one), and
    // both events are ResponseComplete: no STAGE.
    expect(out[0]).toMatch(/^TIME +USER +VERB /);
    expect(out.slice(1, 3).map((l) => l.split(/ +/)[2])).toEqual(['get', 'watch']);
    expect(r.output).not.toMatch(/waiting/);
  });
});
