import { existsSync } from 'node:fs';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ensureLab } from '../../src/lab/lab.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { readState } from '../../src/lab/state.js';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { ROOT, runCli } from '../harness/cli.js';
import { callLine, freePort, Sandbox, succeeded as ok, tempDir, writeUpLab } from '../harness/lab.js';
import { ASIDE, healthyTable, MANIFEST, type Row } from '../harness/tables.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface World {
  dir: string;
  paths: LabPaths;
  run(args: string[]): ReturnType<typeof runCli>;
  calls(): Promise<{ tool: string; args: string[]; stdin: string }[]>;
}

const READY: Row[] = [{ args: ['--context', 'kind-audit-lab', 'get', '--raw', '/readyz'], stdout: 'ok' }];
const CLUSTER_UP: Row[] = [{ args: ['get', 'clusters'], stdout: 'audit-lab\n' }];
const DOCKER_EXEC: Row[] = [
  { args: ['exec', 'audit-lab-control-plane', 'test', '-e', '/etc/kubernetes/kube-apiserver.yaml.audit-lab'], code: 1 },
  { args: ['exec', 'audit-lab-control-plane', 'mv', '...'] },
];

/** A lab as `up` leaves it (state, PKI, rendered files), with fake kind/kubectl/docker answering from a table. */
async function lab(
  mode: 'static' | 'dynamic',
  table: { kind?: Row[]; kubectl?: Row[]; docker?: Row[] },
  capture: 'sinks' | 'full' = 'sinks',
): Promise<World> {
  const sb = await sandbox({ kind: [], kubectl: [], docker: [], ...table });
  const paths = labPaths(sb.home, 'audit-lab');
  await writeUpLab(paths, mode, capture);
  const run = (args: string[]) => sb.run(args, { AUDIT_LAB_READY_TIMEOUT_MS: '2000' });
  return { dir: sb.dir, paths, run, calls: () => sb.calls() };
}

const policyOf = async (w: World) => parse(await readFile(w.paths.policy, 'utf8'));
const sinksOf = async (w: World) => (await readState(w.paths))!.sinks;

describe('sink create, static mode', () => {
  it('adds a sink the capture already covers without touching the API server', async () => {
    const w = await lab('static', { kind: CLUSTER_UP, kubectl: READY, docker: DOCKER_EXEC });
    const before = await readFile(w.paths.policy, 'utf8');
    const r = await w.run([
      'sink',
      'create',
      'meta',
      '--level',
      'Metadata',
      '--stage',
      'ResponseComplete',
      '--qps',
      '5',
      '--burst',
      '7',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sink "meta" created: Metadata at ResponseComplete, throttle 5/7');
    expect((await sinksOf(w)).map((s) => [s.name, s.level, s.stages, s.throttle])).toEqual([
      ['default', 'Metadata', ['ResponseComplete'], { qps: 10, burst: 15 }],
      ['meta', 'Metadata', ['ResponseComplete'], { qps: 5, burst: 7 }],
    ]);
    expect(await readFile(w.paths.policy, 'utf8')).toBe(before);
    expect(await w.calls()).toEqual([]);
  });

  it('restarts the API server with a wider policy when a sink needs more than is captured', async () => {
    const w = await lab('static', { kind: CLUSTER_UP, kubectl: READY, docker: DOCKER_EXEC });
    const r = await w.run([
      'sink',
      'create',
      'full',
      '--level',
      'RequestResponse',
      '--stage',
      'RequestReceived,ResponseComplete',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'it must capture RequestResponse at RequestReceived, ResponseComplete, so it restarts (after `audit-lab up --capture full` it captures everything',
    );
    expect(await policyOf(w)).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['ResponseStarted', 'Panic'],
      rules: [{ level: 'RequestResponse' }],
    });
    const calls = (await w.calls()).map((c) => `${c.tool} ${c.args.join(' ')}`);
    const moveOut = calls.indexOf(
      'docker exec audit-lab-control-plane mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.audit-lab',
    );
    const moveBack = calls.indexOf(
      'docker exec audit-lab-control-plane mv /etc/kubernetes/kube-apiserver.yaml.audit-lab /etc/kubernetes/manifests/kube-apiserver.yaml',
    );
    const ready = calls.lastIndexOf('kubectl --context kind-audit-lab get --raw /readyz');
    expect(moveOut).toBeGreaterThanOrEqual(0);
    expect(moveBack).toBeGreaterThan(moveOut);
    expect(ready).toBeGreaterThan(moveBack);

    // Now covered: a narrower sink needs no second restart.
    const again = await w.run(['sink', 'create', 'req', '--level', 'Request', '--stage', 'ResponseComplete']);
    expect(again.code).toBe(0);
    expect((await w.calls()).filter((c) => c.args.includes('mv'))).toHaveLength(2);
  });

  it('updates an existing sink, keeping the fields not given', async () => {
    const w = await lab('static', { kind: CLUSTER_UP, kubectl: READY, docker: DOCKER_EXEC });
    const token = (await sinksOf(w))[0]!.token;
    const r = await w.run(['sink', 'create', 'default', '--qps', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sink "default" configured: qps 10 -> 3\n');
    const [s] = await sinksOf(w);
    expect(s).toMatchObject({
      name: 'default',
      level: 'Metadata',
      stages: ['ResponseComplete'],
      throttle: { qps: 3, burst: 15 },
      token,
    });
  });

  it('writes the wider policy without a restart when the cluster is not running', async () => {
    const w = await lab('static', {
      kind: [{ args: ['get', 'clusters'], stdout: '', stderr: 'No kind clusters found.\n' }],
    });
    const r = await w.run(['sink', 'create', 'rr', '--level', 'RequestResponse']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      'sink "rr" created: RequestResponse at ResponseComplete, throttle 10/15; lab "audit-lab" has no cluster running: it applies at the next `audit-lab up`\n',
    );
    expect((await policyOf(w)).rules).toEqual([{ level: 'RequestResponse' }]);
    expect((await w.calls()).map((c) => c.tool)).toEqual(['kind']);
  });

  it('works in a lab that `serve` made, which has no API server files yet', async () => {
    const sb = await sandbox({ kind: [{ args: ['get', 'clusters'], stdout: '' }] });
    const paths = labPaths(sb.home, 'audit-lab');
    await ensureLab(paths);
    const r = await sb.run(['sink', 'create', 'rr', '--level', 'RequestResponse']);
    expect(r.stdout).toContain('has no cluster running: it applies at the next `audit-lab up`');
    expect(r.code).toBe(0);
    expect(parse(await readFile(paths.policy, 'utf8')).rules).toEqual([{ level: 'RequestResponse' }]);
    await expect(readFile(join(paths.dir, 'restart-pending'))).rejects.toThrow(/ENOENT/);
  });

  it('--dry-run prints the policy change and changes nothing', async () => {
    const w = await lab('static', { kind: CLUSTER_UP, kubectl: READY, docker: DOCKER_EXEC });
    const state = await readFile(w.paths.state, 'utf8');
    const r = await w.run([
      'sink',
      'create',
      'rr',
      '--level',
      'RequestResponse',
      '--stage',
      'ResponseComplete',
      '--dry-run',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('the API server captures Metadata at ResponseComplete, which does not cover it');
    expect(parse(r.stdout).rules).toEqual([{ level: 'RequestResponse' }]);
    const covered = await w.run(['sink', 'create', 'm', '--dry-run']);
    expect(covered.stdout).toContain('which covers it: no restart');
    expect(await readFile(w.paths.state, 'utf8')).toBe(state);
    expect(await w.calls()).toEqual([]);
  });

  it('never restarts a lab that captures everything (--capture full)', async () => {
    const w = await lab('static', { kind: CLUSTER_UP }, 'full');
    const r = await w.run([
      'sink',
      'create',
      'rr',
      '--level',
      'RequestResponse',
      '--stage',
      'RequestReceived,ResponseStarted,ResponseComplete,Panic',
    ]);
    expect(r.code).toBe(0);
    expect(await w.calls()).toEqual([]);
  });

  it('retries the restart on the next change when the previous one failed', async () => {
    const w = await lab('static', {
      kind: CLUSTER_UP,
      kubectl: [
        {
          args: ['--context', 'kind-audit-lab', 'get', '--raw', '/readyz'],
          code: 1,
          stderr: 'The connection to the server was refused',
        },
      ],
      docker: [...DOCKER_EXEC, { args: ['exec', 'audit-lab-control-plane', 'crictl', '...'], stdout: '' }],
    });
    const r = await w.run(['sink', 'create', 'rr', '--level', 'RequestResponse']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not become ready/);
    // The policy file says RequestResponse, but the API server may not run with it: restart again.
    const again = await w.run(['sink', 'create', 'rr2', '--level', 'Request', '--dry-run']);
    expect(again.stdout).toContain('no capture policy is in force yet');
  });
});

describe('sink create, dynamic mode', () => {
  const APPLY: Row[] = [
    {
      args: ['--context', 'kind-audit-lab', 'apply', '-f', '-'],
      stdout: 'auditsink.auditregistration.k8s.io/x created\n',
    },
  ];

  it('applies a real AuditSink pointing at the receiver with the lab CA, and keeps audit.yaml whole', async () => {
    const w = await lab('dynamic', { kind: CLUSTER_UP, kubectl: APPLY });
    const r = await w.run([
      'sink',
      'create',
      'mysink',
      '--level',
      'RequestResponse',
      '--stage',
      'ResponseStarted',
      '--stage',
      'ResponseComplete',
      '--qps',
      '10',
      '--burst',
      '15',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [list, call] = await w.calls();
    expect(list!.args).toEqual(['get', 'clusters']);
    expect(call!.args).toEqual(['--context', 'kind-audit-lab', 'apply', '-f', '-']);
    const applied = parse(call!.stdin);
    const sink = (await sinksOf(w)).find((s) => s.name === 'mysink')!;
    const ca = await readFile(join(w.paths.pkiDir, 'ca.crt'), 'utf8');
    // The lab's own port: a new lab takes the first one no other process holds.
    const { port } = (JSON.parse(await readFile(w.paths.state, 'utf8')) as { receiver: { port: number } }).receiver;
    expect(applied).toEqual({
      apiVersion: 'auditregistration.k8s.io/v1alpha1',
      kind: 'AuditSink',
      metadata: { name: 'mysink' },
      spec: {
        policy: { level: 'RequestResponse', stages: ['ResponseStarted', 'ResponseComplete'] },
        webhook: {
          throttle: { qps: 10, burst: 15 },
          clientConfig: {
            url: `https://127.0.0.1:${port}/sinks/mysink/${sink.token}`,
            caBundle: Buffer.from(ca).toString('base64'),
          },
        },
      },
    });
    const all = parseAllDocuments(await readFile(w.paths.auditSinks, 'utf8')).map((d) => d.toJS());
    expect(all.map((d) => d.metadata.name)).toEqual(['default', 'mysink']);
    expect(all[1]).toEqual(applied);
  });

  it('points the AuditSink at --url directly', async () => {
    const w = await lab('dynamic', { kind: CLUSTER_UP, kubectl: APPLY });
    const r = await w.run(['sink', 'create', 'ext', '--url', 'https://audit.example.com/in']);
    expect(r.code).toBe(0);
    const applied = parse((await w.calls()).find((c) => c.tool === 'kubectl')!.stdin);
    expect(applied.spec.webhook.clientConfig).toEqual({ url: 'https://audit.example.com/in' });
  });

  it('leaves the lab as it was when the cluster refuses, and shows kubectl output', async () => {
    const w = await lab('dynamic', {
      kind: CLUSTER_UP,
      kubectl: [
        {
          args: ['--context', 'kind-audit-lab', 'apply', '-f', '-'],
          code: 1,
          stderr: 'error: the server could not find the requested resource\n',
        },
      ],
    });
    const state = await readFile(w.paths.state, 'utf8');
    const r = await w.run(['sink', 'create', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the cluster refused AuditSink "x"');
    expect(r.stderr).toContain('the server could not find the requested resource');
    expect(await readFile(w.paths.state, 'utf8')).toBe(state);
  });

  it('refuses fractional --qps and --burst, as the AuditSink API (int64) does, and saves nothing', async () => {
    const w = await lab('dynamic', {});
    const state = await readFile(w.paths.state, 'utf8');
    const r = await w.run(['sink', 'create', 'x', '--qps', '0.5', '--burst', '1.5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--qps: Invalid value: 0.5: qps must be a whole number (an int64) (spec.webhook.throttle.qps)',
    );
    expect(r.stderr).toContain(
      '--burst: Invalid value: 1.5: burst must be a whole number (an int64) (spec.webhook.throttle.burst)',
    );
    expect(await w.calls()).toEqual([]);
    expect(await readFile(w.paths.state, 'utf8')).toBe(state);
  });

  it('refuses --policy: an AuditSink has only a level and stages', async () => {
    const w = await lab('dynamic', {});
    const r = await w.run(['sink', 'create', 'p', '--policy', 'policy.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('an AuditSink has only a level and stages');
  });

  it('--dry-run prints the AuditSink and applies nothing', async () => {
    const w = await lab('dynamic', {});
    const r = await w.run(['sink', 'create', 'd', '--level', 'Request', '--dry-run']);
    expect(r.code).toBe(0);
    expect(parse(r.stdout)).toMatchObject({
      kind: 'AuditSink',
      metadata: { name: 'd' },
      spec: { policy: { level: 'Request', stages: ['ResponseComplete'] } },
    });
    expect(await w.calls()).toEqual([]);
  });
});

describe('sink list and delete', () => {
  it('lists static sinks from the lab with event counts', async () => {
    const w = await lab('static', {});
    await ensurePrivateDir(w.paths.streamsDir);
    const ev = (id: string, t: string) =>
      JSON.stringify({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        auditID: id,
        stage: 'ResponseComplete',
        stageTimestamp: t,
      });
    await writeFile(
      join(w.paths.streamsDir, 'default.log'),
      `${ev('a', '2026-01-01T00:00:00Z')}\n${ev('b', '2026-01-01T00:00:05Z')}\n`,
    );
    const r = await w.run(['sink', 'list', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.items).toEqual([
      {
        name: 'default',
        level: 'Metadata',
        policy: null,
        stages: ['ResponseComplete'],
        throttle: { qps: 10, burst: 15 },
        target: 'receiver',
        events: 2,
        lastEvent: '2026-01-01T00:00:05Z',
      },
    ]);
    // LAST EVENT is an age (how long ago depends on today): -o wide shows the time.
    const table = await w.run(['sink', 'list']);
    expect(table.stdout).toMatch(
      /^NAME\s+LEVEL\s+STAGES\s+QPS\/BURST\s+TARGET\s+EVENTS\s+LAST EVENT\ndefault\s+Metadata\s+ResponseComplete\s+10\/15\s+receiver\s+2\s+\d+[smhd]\n$/,
    );
  });

  it('lists dynamic sinks as the cluster has them', async () => {
    const items = [
      {
        metadata: { name: 'default' },
        spec: {
          policy: { level: 'Metadata', stages: ['ResponseComplete'] },
          webhook: {
            throttle: { qps: 10, burst: 15 },
            clientConfig: { url: 'https://127.0.0.1:8845/sinks/default/x' },
          },
        },
      },
      {
        metadata: { name: 'by-hand' },
        spec: {
          policy: { level: 'Request', stages: ['ResponseStarted'] },
          webhook: { clientConfig: { url: 'https://elsewhere.example/in' } },
        },
      },
    ];
    const w = await lab('dynamic', {
      kubectl: [
        { args: ['--context', 'kind-audit-lab', 'get', 'auditsinks', '-o', 'json'], stdout: JSON.stringify({ items }) },
      ],
    });
    const r = await w.run(['sink', 'list', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.metadata.source).toBe('cluster');
    expect(out.items.map((s: { name: string; target: string; level: string }) => [s.name, s.level, s.target])).toEqual([
      ['default', 'Metadata', 'receiver'],
      ['by-hand', 'Request', 'https://elsewhere.example/in'],
    ]);
  });

  it('deletes a dynamic sink from the cluster and the lab, keeping its events', async () => {
    const w = await lab('dynamic', {
      kind: CLUSTER_UP,
      kubectl: [
        {
          args: ['--context', 'kind-audit-lab', 'delete', 'auditsink', 'default', '--ignore-not-found'],
          stdout: 'deleted',
        },
      ],
    });
    const r = await w.run(['sink', 'delete', 'default']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('its 0 stored events stay in');
    expect(await sinksOf(w)).toEqual([]);
    expect(await readFile(w.paths.auditSinks, 'utf8')).toBe('');
  });

  it('deletes a static sink without restarting anything; an unknown one is exit 2 listing the sinks', async () => {
    const w = await lab('static', {});
    const unknown = await w.run(['sink', 'delete', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('its sinks: default');
    const r = await w.run(['sink', 'delete', 'default']);
    expect(r.code).toBe(0);
    expect(await sinksOf(w)).toEqual([]);
    expect(await w.calls()).toEqual([]);
  });

  it('says how to make a lab when there is none', async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const r = await runCli(['sink', 'list'], { env: { AUDIT_LAB_HOME: dir } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'make it with `audit-lab up` (cluster and receiver), or `audit-lab serve` (the receiver alone, no cluster)',
    );
  });
});

async function sandbox(...args: Parameters<typeof Sandbox.create>): Promise<Sandbox> {
  const sb = await Sandbox.create(...args);
  cleanups.push(() => sb.cleanup());
  return sb;
}

const LATER = 'lab "audit-lab" has no cluster running: it applies at the next `audit-lab up`';

describe('sinks in a lab with no cluster: saved, said so, applied by the next up', () => {
  it('dynamic: create and delete ask only `kind get clusters`, exit 0, and up applies the AuditSinks', async () => {
    const sb = await sandbox(
      healthyTable({ desktop: true, cgroup: '1', kindVersion: '0.11.1', mode: 'dynamic', kubernetes: 'v1.18.19' }),
    );
    ok(await sb.run(['up', '--mode', 'dynamic', '--port', String(await freePort())]));
    ok(await sb.run(['down']));
    await sb.clearCalls();

    const created = ok(await sb.run(['sink', 'create', 'full', '--level', 'RequestResponse']));
    expect(created.stderr).toBe('');
    expect(created.stdout.split('\n')[0]).toBe(
      `sink "full" created: AuditSink, RequestResponse at ResponseComplete, throttle 10/15; ${LATER}`,
    );
    const deleted = ok(await sb.run(['sink', 'delete', 'default']));
    expect(deleted.stdout.split('\n')[0]).toBe(`sink "default" deleted; ${LATER}`);
    expect((await sb.calls()).map(callLine)).toEqual(['kind get clusters', 'kind get clusters']);
    expect((await readState(labPaths(sb.home, 'audit-lab')))!.sinks.map((s) => s.name)).toEqual(['full']);

    await sb.clearCalls();
    ok(await sb.run(['up']));
    expect((await sb.calls()).map(callLine)).toContain(
      `kubectl --context kind-audit-lab apply -f ${sb.labDir()}/audit.yaml`,
    );
    const applied = parseAllDocuments(await readFile(join(sb.labDir(), 'audit.yaml'), 'utf8')).map((d) => d.toJS());
    expect(applied.map((d) => [d.metadata.name, d.spec.policy.level])).toEqual([['full', 'RequestResponse']]);
  });

  it('static: a wider capture is written, and the cluster up makes starts with it (nothing to restart)', async () => {
    const sb = await sandbox(healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--capture', 'sinks', '--port', String(await freePort())]));
    ok(await sb.run(['down']));
    await sb.clearCalls();

    const r = ok(await sb.run(['sink', 'create', 'full', '--level', 'RequestResponse']));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(
      `sink "full" created: RequestResponse at ResponseComplete, throttle 10/15; ${LATER}`,
    );
    expect((await sb.calls()).map(callLine)).toEqual(['kind get clusters']);
    expect(parse(await readFile(join(sb.labDir(), 'apiserver', 'policy.yaml'), 'utf8')).rules).toEqual([
      { level: 'RequestResponse' },
    ]);
    // Static delete needs no cluster (the capture still covers the sinks left): no tool is asked.
    await sb.clearCalls();
    const d = ok(await sb.run(['sink', 'delete', 'default']));
    expect(d.stdout.split('\n')[0]).toBe('sink "default" deleted');
    expect(await sb.calls()).toEqual([]);

    await sb.clearCalls();
    ok(await sb.run(['up']));
    const calls = (await sb.calls()).map(callLine);
    expect(calls.some((c) => c.startsWith('kind create cluster'))).toBe(true);
    expect(calls.some((c) => c.includes(' mv '))).toBe(false);
  });

  it('kind not on PATH counts as no cluster: nothing is asked, restart-pending stays, and up restarts the cluster it then finds', async () => {
    const sb = await sandbox(healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--capture', 'sinks', '--port', String(await freePort())]));
    await rm(join(sb.bin, 'kind'));
    await sb.clearCalls();

    const r = ok(await sb.run(['sink', 'create', 'full', '--level', 'RequestResponse']));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(
      'sink "full" created: RequestResponse at ResponseComplete, throttle 10/15; lab "audit-lab" has no cluster running (kind is not on PATH, so taken as none): it applies at the next `audit-lab up`',
    );
    expect(await sb.calls()).toEqual([]);
    const mark = join(sb.labDir(), 'restart-pending');
    expect(existsSync(mark)).toBe(true);

    await symlink(join(ROOT, 'test', 'lifecycle', 'fakes', 'kind'), join(sb.bin, 'kind'));
    ok(await sb.run(['up']));
    const calls = (await sb.calls()).map(callLine);
    expect(calls).toContain(`docker exec audit-lab-control-plane mv ${MANIFEST} ${ASIDE}`);
    expect(existsSync(mark)).toBe(false);
  });

  it('--name: the line names the lab and its up command', async () => {
    const sb = await sandbox(healthyTable({ name: 'b' }));
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--name', 'b', '--capture', 'sinks', '--port', String(await freePort())]));
    ok(await sb.run(['down', '--name', 'b']));
    const r = ok(await sb.run(['sink', 'create', 'full', '--level', 'RequestResponse', '--name', 'b']));
    expect(r.stdout.split('\n')[0]).toMatch(
      /; lab "b" has no cluster running: it applies at the next `audit-lab up --name b`$/,
    );
  });
});

describe('sink create says created, configured (with what changed) or unchanged, as kubectl apply', () => {
  it("the Quick start's sink again is unchanged and rewrites nothing; a change lists each field", async () => {
    const w = await lab('static', { kind: CLUSTER_UP, kubectl: READY, docker: DOCKER_EXEC });
    const state = await readFile(w.paths.state, 'utf8');
    const same = await w.run(['sink', 'create', '--level', 'Metadata', '--stage', 'ResponseComplete']);
    expect(same.code).toBe(0);
    expect(same.stdout.split('\n')[0]).toBe('sink "default" unchanged');
    expect(await readFile(w.paths.state, 'utf8')).toBe(state);
    expect(await w.calls()).toEqual([]);

    const changed = await w.run([
      'sink',
      'create',
      'default',
      '--level',
      'Request',
      '--stage',
      'ResponseStarted,ResponseComplete',
    ]);
    expect(changed.code).toBe(0);
    expect(changed.stdout.split('\n')[0]).toBe(
      'sink "default" configured: level Metadata -> Request, stages ResponseComplete -> ResponseStarted,ResponseComplete',
    );
    const throttle = await w.run([
      'sink',
      'create',
      'default',
      '--qps',
      '5',
      '--burst',
      '7',
      '--url',
      'https://audit.example.com/in',
    ]);
    expect(throttle.stdout.split('\n')[0]).toBe(
      'sink "default" configured: qps 10 -> 5, burst 15 -> 7, url (none) -> https://audit.example.com/in',
    );
    const fresh = await w.run(['sink', 'create', 'other']);
    expect(fresh.stdout.split('\n')[0]).toBe('sink "other" created: Metadata at ResponseComplete, throttle 10/15');
  });

  it('dynamic: unchanged still applies to a running cluster (as kubectl apply), and says unchanged', async () => {
    const w = await lab('dynamic', {
      kind: CLUSTER_UP,
      kubectl: [
        {
          args: ['--context', 'kind-audit-lab', 'apply', '-f', '-'],
          stdout: 'auditsink.auditregistration.k8s.io/default unchanged\n',
        },
      ],
    });
    const r = await w.run(['sink', 'create', 'default']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('sink "default" unchanged');
    expect((await w.calls()).map((c) => c.args.slice(2).join(' '))).toContain('apply -f -');
  });
});

it('sink create --help names preset:NAME and every preset shipped', async () => {
  const r = await runCli(['sink', 'create', '--help']);
  const presets = (await readdir(join(ROOT, 'templates', 'policies')))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
  expect(r.code).toBe(0);
  expect(r.stdout.replace(/\s+/g, ' ')).toContain(`a file, or preset:NAME (${presets.join(', ')})`);
});
