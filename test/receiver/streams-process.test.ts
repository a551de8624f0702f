/**
 * Stream files end to end, as a user runs them (the built CLI: run `npm run build` first; `npm test`
 * does): a sink with the longest name `sink create` accepts, stored and rotated by `serve`, read by
 * `tail`, `status`, `sink list` and `policy test`; and `serve` refusing a stream file that is a link.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureLab } from '../../src/lab/lab.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { writeState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { sinkPolicyFile, streamFile } from '../../src/streams/names.js';
import { type CliProcess, runProcess, serveUrl, startCli } from '../harness/cli.js';
import { eventList, makeEvent } from '../harness/events.js';
import { fakeToolsEnv, tempDir } from '../harness/lab.js';
import { post } from '../harness/receiver.js';

/** 253 characters, the longest DNS-1123 subdomain; the second differs only in its last character. */
const LONG = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
const LONG2 = `${LONG.slice(0, 252)}x`;

const cleanups: (() => Promise<void>)[] = [];
const children: CliProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop('SIGKILL');
  while (cleanups.length) await cleanups.pop()!();
});

function serve(home: string, args: string[]): CliProcess {
  const s = startCli(['serve', ...args], { env: { AUDIT_LAB_HOME: home } });
  children.push(s);
  return s;
}

/** A static-mode lab as `serve` makes it, with a fake kind that says no cluster runs. */
async function staticLab(): Promise<{
  paths: LabPaths;
  home: string;
  env: NodeJS.ProcessEnv;
  pki: { ca: string; client: { cert: string; key: string } };
}> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const paths = labPaths(join(dir, 'home'), 'audit-lab');
  const handle = await ensureLab(paths);
  await writeState(paths, {
    ...handle.state,
    mode: 'static',
    receiver: { ...handle.state.receiver, port: 0 },
    sinks: [],
  });
  const table = join(dir, 'table.json');
  const tools = await fakeToolsEnv(table, {
    kind: [{ args: ['get', 'clusters'], stdout: '' }],
    kubectl: [],
    docker: [],
  });
  const env = { AUDIT_LAB_HOME: paths.home, ...tools };
  return { paths, home: paths.home, env, pki: { ca: handle.pki.ca.cert, client: handle.pki.client } };
}

describe('a sink with a 253-character name (process)', () => {
  it('is created, stored with rotation, read by tail, status, sink list and policy test, and survives a restart', async () => {
    const lab = await staticLab();
    const created = await runProcess(['sink', 'create', LONG, '--level', 'Metadata', '--stage', 'ResponseComplete'], {
      env: lab.env,
    });
    expect(created.stderr).not.toContain('Error');
    expect(created.code).toBe(0);
    const withPolicy = await runProcess(['sink', 'create', LONG2, '--policy', 'preset:metadata'], { env: lab.env });
    expect(withPolicy.code).toBe(0);
    expect(await readFile(sinkPolicyFile(lab.paths, LONG2), 'utf8')).toContain('Policy');

    // ~1 KB events and 8 KB files: each batch of 4 rotates.
    let s = serve(lab.home, ['--max-stream-size', '0.008', '--max-stream-files', '50']);
    let url = await serveUrl(s);
    const tls = { ca: lab.pki.ca, cert: lab.pki.client };
    const batches = Array.from({ length: 10 }, () =>
      Array.from({ length: 4 }, () => makeEvent({ auditID: randomUUID() })),
    );
    for (const b of batches) expect((await post(`${url}${STATIC_PATH}`, eventList(b), tls)).status).toBe(200);
    const ids = batches.flat().map((e) => e.auditID);

    const files = await readdir(lab.paths.streamsDir);
    expect(files.filter((f) => /\.log\.\d+$/.test(f)).length).toBeGreaterThan(4);
    for (const f of [...files, ...(await readdir(lab.paths.policiesDir))])
      expect(Buffer.byteLength(f)).toBeLessThanOrEqual(255);

    const tail = await runProcess(['tail', '--no-follow', '--sink', LONG, '-o', 'jsonl'], { env: lab.env });
    expect(tail.stderr).toBe('');
    expect(tail.code).toBe(0);
    expect(
      tail.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { auditID: string }).auditID),
    ).toEqual(ids);

    const status = await runProcess(['status', '--json'], { env: lab.env });
    expect(status.code).toBe(0);
    const sinks = (JSON.parse(status.stdout) as { sinks: { name: string; events: number }[] }).sinks;
    expect(sinks.find((x) => x.name === LONG)?.events).toBe(40);
    expect(sinks.find((x) => x.name === LONG2)?.events).toBe(40);
    const list = await runProcess(['sink', 'list', '--json'], { env: lab.env });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(LONG);
    const judged = await runProcess(['policy', 'test', 'preset:metadata', '--sink', LONG, '-o', 'json'], {
      env: lab.env,
    });
    expect(judged.stderr).toBe('');
    expect(judged.code).toBe(0);
    expect(judged.stdout).toContain(ids[39]!);

    // Restart: starts fine, and a retry of a stored batch after it is stored once.
    expect((await s.stop()).code).toBe(0);
    s = serve(lab.home, []);
    url = await serveUrl(s);
    expect((await post(`${url}${STATIC_PATH}`, eventList(batches[0]!), tls)).status).toBe(200);
    expect((await s.stop()).code).toBe(0);
    expect(s.stderr).toMatch(/200 POST \/events 4 events .*\+0 \(4 dup\)/);
    const again = await runProcess(['tail', '--no-follow', '--sink', LONG, '-o', 'jsonl'], { env: lab.env });
    expect(again.stdout.trim().split('\n')).toHaveLength(40);
  });
});

describe('serve and stream files that are links (process)', () => {
  it('exits 2 naming the link, and writes nothing through it', async () => {
    const lab = await staticLab();
    expect((await runProcess(['sink', 'create', 'default', '--level', 'Metadata'], { env: lab.env })).code).toBe(0);
    await ensurePrivateDir(lab.paths.streamsDir);
    const target = join(lab.home, 'elsewhere');
    await writeFile(target, 'precious\n');
    await symlink(target, streamFile(lab.paths.streamsDir, 'default'));
    const s = serve(lab.home, []);
    expect((await s.exited).code).toBe(2);
    expect(s.stderr).toContain(streamFile(lab.paths.streamsDir, 'default'));
    expect(s.stderr).toContain('symbolic link');
    expect(s.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    expect(basename(streamFile(lab.paths.streamsDir, 'default'))).toBe('default.log');
  });
});
