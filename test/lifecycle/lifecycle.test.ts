/**
 * up, down, status and doctor, run through `run(argv, io)` in the test's process (the built CLI
 * as a process where the process itself is tested) against fake kind, kubectl and docker
 * (test/lifecycle/fakes), with the real background receiver (the built CLI, as `up` starts it),
 * which the fake node's curl reaches over loopback.
 * Build first: `npm run build`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { labPaths } from '../../src/lab/paths.js';
import { newLabState, writeState } from '../../src/lab/state.js';
import { BIN } from '../harness/cli.js';
import {
  callLine as line,
  freePort,
  hasCall,
  isAlive,
  sandboxFor as sandbox,
  succeeded as ok,
} from '../harness/lab.js';
import { ASIDE, healthyTable, MANIFEST, twoLabsTable, withRows } from '../harness/tables.js';
import { eventually } from '../harness/wait.js';

beforeAll(() => {
  if (!existsSync(BIN) || !existsSync(join(BIN, '..', '..', 'dist', 'commands', 'up.js'))) {
    throw new Error('the lifecycle tests run the built CLI: run `npm run build` first');
  }
});

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

interface StatusJson {
  lab: { dir: string; exists: boolean };
  mode: string | null;
  cluster: {
    exists: boolean;
    running: boolean | null;
    ready: boolean | null;
    kubernetesVersion: string | null;
    error?: string;
  };
  receiver: { running: boolean; url: string | null; pid: number | null; healthy: boolean | null };
  files: {
    kindConfig: string | null;
    webhookKubeconfig: string | null;
    policy: string | null;
    auditSinks: string | null;
  };
  sinks: { name: string; level: string; stages: string[]; events: number; lastEvent: string | null }[];
  problems: string[];
}

describe.concurrent('labs side by side', () => {
  test('up --name a, up --name b: each receiver on a port of its own, both healthy; down of one leaves the other', async (t) => {
    const sb = await sandbox(t, twoLabsTable('a', 'b'));
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--name', 'a']));
    ok(await sb.run(['up', '--name', 'b']));
    const status = async (name: string) =>
      JSON.parse(ok(await sb.run(['status', '--json', '--name', name])).stdout) as StatusJson;
    const [a, b] = [await status('a'), await status('b')];
    for (const s of [a, b]) expect(s.receiver).toMatchObject({ running: true, healthy: true });
    const port = (s: StatusJson) => Number(new URL(s.receiver.url!).port);
    expect(port(a)).not.toBe(port(b));
    // Each lab keeps its port in its state: up again takes the same one.
    expect((await readJson<{ receiver: { port: number } }>(join(sb.labDir('b'), 'state.json'))).receiver.port).toBe(
      port(b),
    );
    ok(await sb.run(['down', '--name', 'a']));
    const [a2, b2] = [await status('a'), await status('b')];
    expect(a2.receiver.running).toBe(false);
    expect(a2.cluster.exists).toBe(false);
    expect(b2.receiver).toMatchObject({ running: true, healthy: true, url: b.receiver.url });
    expect(b2.cluster.exists).toBe(true);
    ok(await sb.run(['down', '--name', 'b']));
  });

  test("a port another lab keeps: up --dry-run of a new lab skips it; up (through doctor's port check) names the lab that holds it", async (t) => {
    const sb = await sandbox(t, twoLabsTable('a', 'b'));
    await sb.setWorld({ network: true });
    const port = await freePort();
    ok(await sb.run(['up', '--name', 'a', '--port', String(port)]));
    const dry = ok(await sb.run(['up', '--name', 'b', '--dry-run']));
    expect(dry.stdout).toMatch(/start the receiver in the background on <gateway>:(\d+)/);
    expect(Number(/on <gateway>:(\d+)/.exec(dry.stdout)![1])).not.toBe(port);
    const r = await sb.run(['up', '--name', 'b', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `127.0.0.1:${port} is taken by lab "a"'s receiver: labs side by side each need their own port`,
    );
    ok(await sb.run(['down', '--name', 'a']));
  });
});

describe.concurrent('up (static mode, Linux)', () => {
  test('first cluster on the machine: learns the gateway after kind made the network, restarts the API server once, proves the node reaches the receiver', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = await freePort();
    const r = await sb.run(['up', '--port', String(port)]);
    expect(r.stderr).not.toMatch(/error/i);
    ok(r);

    const calls = (await sb.calls()).map(line);
    const lab = sb.labDir();
    expect(calls).toContain(`kind create cluster --name audit-lab --config ${lab}/config.yaml`);
    // The network did not exist before kind made it: the webhook config named a placeholder host,
    // so the API server is restarted once, with the manifest out of kubelet's sight and back.
    const create = calls.findIndex((c) => c.startsWith('kind create cluster'));
    const out = calls.indexOf(`docker exec audit-lab-control-plane mv ${MANIFEST} ${ASIDE}`);
    const back = calls.indexOf(`docker exec audit-lab-control-plane mv ${ASIDE} ${MANIFEST}`);
    expect(create).toBeGreaterThan(-1);
    expect(out).toBeGreaterThan(create);
    expect(back).toBeGreaterThan(out);
    expect(calls).toContain(`docker exec audit-lab-control-plane curl -fsSk -m 5 https://127.0.0.1:${port}/healthz`);
    // Every kubectl call names the lab's context.
    for (const c of await sb.calls('kubectl'))
      if (c.args[0] !== 'version' || c.args[1] !== '--client')
        expect(c.args.slice(0, 2)).toEqual(['--context', 'kind-audit-lab']);

    const state = await readJson<{ mode: string; receiver: { host: string; address: string; port: number } }>(
      join(lab, 'state.json'),
    );
    expect(state.mode).toBe('static');
    expect(state.receiver).toMatchObject({ host: '127.0.0.1', address: '127.0.0.1', port });
    const kubeconfig = await readFile(join(lab, 'apiserver', 'webhook.kubeconfig'), 'utf8');
    expect(kubeconfig).toContain(`server: https://127.0.0.1:${port}/events`);
    expect(existsSync(join(lab, 'apiserver', 'policy.yaml'))).toBe(true);
    expect(await readFile(join(lab, 'config.yaml'), 'utf8')).toContain(`hostPath: ${lab}/apiserver`);

    expect(r.stdout).toContain('lab "audit-lab" is up.');
    expect(r.stdout).toMatch(/next:\n\s+audit-lab tail/);
    expect(r.stdout).toContain('kubectl --context kind-audit-lab get pods -A');
    expect(r.stdout).toContain('audit-lab down');

    const s = await sb.run(['status', '--json']);
    ok(s);
    const j = JSON.parse(s.stdout) as StatusJson;
    expect(j.lab.dir).toBe(lab);
    expect(j.mode).toBe('static');
    expect(j.cluster).toMatchObject({ exists: true, running: true, ready: true, kubernetesVersion: 'v1.33.1' });
    expect(j.receiver).toMatchObject({ running: true, url: `https://127.0.0.1:${port}`, healthy: true });
    expect(j.files).toMatchObject({
      kindConfig: join(lab, 'config.yaml'),
      webhookKubeconfig: join(lab, 'apiserver', 'webhook.kubeconfig'),
      policy: join(lab, 'apiserver', 'policy.yaml'),
    });
    expect(j.sinks).toEqual([
      { name: 'default', level: 'Metadata', stages: ['ResponseComplete'], url: null, events: 0, lastEvent: null },
    ]);
    expect(j.problems).toEqual([]);
  });

  test.for([
    { cgroup: '1', image: undefined, patched: true },
    { cgroup: '1', image: 'kindest/node:v1.36.1', patched: true },
    { cgroup: '1', image: 'kindest/node:v1.33.1', patched: false },
    { cgroup: '2', image: undefined, patched: false },
  ] as const)(
    'cgroup v$cgroup host, image $image: kubelet failCgroupV1 patch $patched, and up says why',
    async ({ cgroup, image, patched }, t) => {
      const sb = await sandbox(t, healthyTable({ cgroup }));
      await sb.setWorld({ network: true });
      const r = ok(await sb.run(['up', '--port', String(await freePort()), ...(image ? ['--image', image] : [])]));
      const config = parse(await readFile(join(sb.labDir(), 'config.yaml'), 'utf8')) as {
        kubeadmConfigPatches: string[];
      };
      const kubelet = config.kubeadmConfigPatches.map((p) => parse(p)).filter((p) => p.kind === 'KubeletConfiguration');
      expect(kubelet).toStrictEqual(patched ? [{ kind: 'KubeletConfiguration', failCgroupV1: false }] : []);
      expect(r.stderr.includes('failCgroupV1: false')).toBe(patched);
    },
  );

  test('after a wider sink is deleted, up keeps the capture that covers every sink and does not restart the API server', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--capture', 'sinks', '--port', String(await freePort())]));
    ok(await sb.run(['sink', 'create', 'full', '--level', 'RequestResponse', '--stage', 'ResponseComplete']));
    const policyFile = join(sb.labDir(), 'apiserver', 'policy.yaml');
    const wide = await readFile(policyFile, 'utf8');
    expect(parse(wide)).toMatchObject({ rules: [{ level: 'RequestResponse' }] });
    ok(await sb.run(['sink', 'delete', 'full']));
    await sb.clearCalls();
    const r = ok(await sb.run(['up']));
    expect(r.stdout).toContain('is up already; nothing to change');
    expect((await sb.calls()).map(line).filter((c) => c.includes(' mv '))).toEqual([]);
    expect(await readFile(policyFile, 'utf8')).toBe(wide);
  });

  test('a restart that sink create could not finish (restart-pending): up restarts the API server and clears the mark', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--port', String(await freePort())]));
    const mark = join(sb.labDir(), 'restart-pending');
    await writeFile(mark, 'then\n');
    await sb.clearCalls();
    ok(await sb.run(['up']));
    const calls = (await sb.calls()).map(line);
    expect(calls).toContain(`docker exec audit-lab-control-plane mv ${MANIFEST} ${ASIDE}`);
    expect(calls).toContain(`docker exec audit-lab-control-plane mv ${ASIDE} ${MANIFEST}`);
    expect(existsSync(mark)).toBe(false);
  });

  test('the kind network exists already: the receiver starts before the cluster and the API server is not restarted', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ network: true });
    const r = await sb.run(['up', '--port', String(await freePort()), '--verbose']);
    ok(r);
    const calls = (await sb.calls()).map(line);
    expect(calls.some((c) => c.includes(' mv '))).toBe(false);
    // --verbose: kind's own lines, each command, and the time of each step.
    expect(r.stderr).toContain('✓ Starting control-plane');
    expect(r.stderr).toContain('$ kind create cluster --name audit-lab');
    expect(r.stderr).toMatch(/timings:\n(.*\n)*\s+create cluster\s+\d+\.\ds\n(.*\n)*\s+total\s+\d+\.\ds/);
  });

  test('up twice: the second reports the lab and changes nothing', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = String(await freePort());
    ok(await sb.run(['up', '--port', port]));
    const lab = sb.labDir();
    const files = [
      'state.json',
      'config.yaml',
      'apiserver/webhook.kubeconfig',
      'apiserver/policy.yaml',
      'pki/server.crt',
    ].map((f) => join(lab, f));
    const before = await Promise.all(files.map(async (f) => (await stat(f)).mtimeMs));
    const pid = await sb.receiverPid();
    await sb.clearCalls();

    const r = await sb.run(['up']);
    ok(r);
    expect(r.stdout).toContain('lab "audit-lab" is up already; nothing to change.');
    const calls = (await sb.calls()).map(line);
    expect(
      calls.some(
        (c) =>
          c.startsWith('kind create') || c.startsWith('kind delete') || c.includes(' mv ') || c.includes(' apply '),
      ),
    ).toBe(false);
    expect(await Promise.all(files.map(async (f) => (await stat(f)).mtimeMs))).toEqual(before);
    expect(await sb.receiverPid()).toBe(pid);
  });

  test('a half-made lab: up starts the receiver that died and puts back a manifest an interrupted restart left aside', async (t) => {
    const sb = await sandbox(t, healthyTable());
    ok(await sb.run(['up', '--port', String(await freePort())]));
    const pid = (await sb.receiverPid())!;
    process.kill(pid, 'SIGKILL');
    expect(await eventually(() => !isAlive(pid))).toBe(true);
    await sb.setWorld({ aside: true });
    await sb.clearCalls();

    const s = JSON.parse((await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(s.receiver.running).toBe(false);
    expect(s.cluster.ready).toBe(false);
    expect(s.problems.join('\n')).toMatch(/receiver is not running, so the API server's audit events are lost/);

    const r = await sb.run(['up']);
    ok(r);
    expect(r.stdout).toContain('lab "audit-lab" is up.');
    const calls = (await sb.calls()).map(line);
    expect(calls).toContain(`docker exec audit-lab-control-plane mv ${ASIDE} ${MANIFEST}`);
    expect(calls.some((c) => c.startsWith('kind create'))).toBe(false);
    const now = await sb.receiverPid();
    expect(now).not.toBe(pid);
    expect(isAlive(now!)).toBe(true);
  });

  test('--dry-run prints every file and command, calls no tool and writes nothing', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const r = await sb.run(['up', '--dry-run', '--port', '9443']);
    ok(r);
    expect(await sb.calls()).toEqual([]);
    expect(existsSync(sb.labDir())).toBe(false);
    const lab = sb.labDir();
    expect(r.stdout).toContain(`# ==> ${lab}/config.yaml <==`);
    expect(r.stdout).toContain(`# ==> ${lab}/apiserver/webhook.kubeconfig <==`);
    expect(r.stdout).toContain(`# ==> ${lab}/apiserver/policy.yaml <==`);
    expect(r.stdout).toContain(`$ kind create cluster --name audit-lab --config ${lab}/config.yaml`);
    expect(r.stdout).toContain('$ kubectl --context kind-audit-lab get --raw /readyz');
    expect(r.stdout).toContain("$ docker info --format '{{json .}}'");
    expect(r.stdout).toContain(':9443/healthz');
  });
});

describe.concurrent('with the real receiver', () => {
  test('up starts `audit-lab serve` in the background where the node reaches it; status sees it; down stops it', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = await freePort();
    const r = ok(await sb.runProcess(['up', '--port', String(port)]));
    expect(r.stderr).toContain(`receiver listening on https://127.0.0.1:${port}`);
    expect((await sb.calls()).map(line)).toContain(
      `docker exec audit-lab-control-plane curl -fsSk -m 5 https://127.0.0.1:${port}/healthz`,
    );
    const pid = (await sb.receiverPid())!;
    expect(isAlive(pid)).toBe(true);

    const j = JSON.parse(ok(await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(j.receiver).toMatchObject({ running: true, pid, url: `https://127.0.0.1:${port}`, healthy: true });

    // A second up finds it healthy and leaves it alone.
    expect(ok(await sb.run(['up'])).stdout).toContain('up already; nothing to change');
    expect(await sb.receiverPid()).toBe(pid);

    const d = ok(await sb.run(['down']));
    expect(d.stdout).toContain('stopped the receiver');
    expect(isAlive(pid)).toBe(false);
  });
});

describe.concurrent('up (dynamic mode, Docker Desktop)', () => {
  test('kind v0.11.1 on a cgroup v1 host: the 1.18 image, host.docker.internal, and the default AuditSink applied', async (t) => {
    const sb = await sandbox(
      t,
      healthyTable({ desktop: true, cgroup: '1', kindVersion: '0.11.1', mode: 'dynamic', kubernetes: 'v1.18.19' }),
    );
    const port = await freePort();
    const r = await sb.run(['up', '--mode', 'dynamic', '--port', String(port)]);
    expect(r.stderr).not.toMatch(/error|warning/i);
    ok(r);
    const lab = sb.labDir();
    const calls = (await sb.calls()).map(line);
    const create = calls.find((c) => c.startsWith('kind create cluster'));
    expect(create).toMatch(
      new RegExp(
        `^kind create cluster --name audit-lab --config ${lab}/config.yaml --image kindest/node:v1.18.19@sha256:7af1492e`,
      ),
    );
    expect(calls).toContain(`kubectl --context kind-audit-lab apply -f ${lab}/audit.yaml`);
    expect(calls).toContain(
      `docker exec audit-lab-control-plane curl -fsSk -m 5 https://host.docker.internal:${port}/healthz`,
    );
    // Docker Desktop: nothing to learn from the kind network and nothing to restart.
    expect(calls.some((c) => c.startsWith('docker network inspect') || c.includes(' mv '))).toBe(false);
    const audit = await readFile(join(lab, 'audit.yaml'), 'utf8');
    expect(audit).toMatch(new RegExp(`url: https://host.docker.internal:${port}/sinks/default/[A-Za-z0-9_-]{43}`));
    expect(audit).toContain('kind: AuditSink');
    const state = await readJson<{ receiver: { host: string; address: string } }>(join(lab, 'state.json'));
    expect(state.receiver).toMatchObject({ host: 'host.docker.internal', address: '127.0.0.1' });
    expect(r.stdout).toContain('mode      dynamic, Kubernetes v1.18.19');

    const j = JSON.parse((await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(j.mode).toBe('dynamic');
    expect(j.files.auditSinks).toBe(join(lab, 'audit.yaml'));
    expect(j.files.webhookKubeconfig).toBeNull();

    // A second up finds the AuditSink there and applies nothing.
    await sb.clearCalls();
    const again = await sb.run(['up']);
    ok(again);
    expect(again.stdout).toContain('up already');
    expect((await sb.calls()).map(line).some((c) => c.includes(' apply '))).toBe(false);
  });

  test('--no-sink makes no AuditSink', async (t) => {
    const sb = await sandbox(t, healthyTable({ desktop: true, cgroup: '1', kindVersion: '0.11.1', mode: 'dynamic' }));
    const r = await sb.run(['up', '--mode', 'dynamic', '--no-sink', '--port', String(await freePort())]);
    ok(r);
    expect((await sb.calls()).map(line).some((c) => c.includes(' apply '))).toBe(false);
    expect(r.stdout).toContain('sinks     none');
    expect(r.stdout).toContain('audit-lab sink create --level Metadata --stage ResponseComplete');
  });

  test('dynamic mode on a cgroup v2 host fails before kind runs, and says why', async (t) => {
    const sb = await sandbox(t, healthyTable({ cgroup: '2', kindVersion: '0.11.1', mode: 'dynamic' }));
    const r = await sb.run(['up', '--mode', 'dynamic', '--port', String(await freePort())]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cgroup v2 host: node images <= 1.18');
    expect(r.stderr).toContain('use static mode');
    expect((await sb.calls()).map(line).some((c) => c.startsWith('kind create'))).toBe(false);
  });
});

describe.concurrent('failures', () => {
  test('tools missing: doctor and up name each one and how to install it', async (t) => {
    const sb = await sandbox(t, healthyTable(), ['docker']);
    const d = await sb.run(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/✗ kind\s+kind is not on PATH/);
    expect(d.stdout).toContain('https://kind.sigs.k8s.io/docs/user/quick-start/#installation');
    expect(d.stdout).toMatch(/✗ kubectl\s+kubectl is not on PATH/);
    expect(d.stdout).toContain('https://kubernetes.io/docs/tasks/tools/');
    expect(d.stdout).toMatch(/✓ docker/);

    const j = JSON.parse((await sb.run(['doctor', '--json'])).stdout) as {
      ok: boolean;
      checks: { check: string; status: string; fix?: string }[];
    };
    expect(j.ok).toBe(false);
    expect(j.checks.find((c) => c.check === 'kind')).toMatchObject({ status: 'fail' });

    const u = await sb.run(['up', '--port', String(await freePort())]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('kind is not on PATH');
    expect(u.stderr).toContain('error: cannot bring the lab up: 2 checks failed');
    expect(existsSync(sb.labDir())).toBe(false);
  });

  test('docker daemon down: doctor says how to start it, up stops before kind', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ daemonDown: true });
    const d = await sb.run(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toContain(
      'the Docker daemon is not reachable: Cannot connect to the Docker daemon at unix:///var/run/docker.sock',
    );
    expect(d.stdout).toContain('sudo systemctl start docker');
    const u = await sb.run(['up', '--port', String(await freePort())]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('the Docker daemon is not reachable');
    expect((await sb.calls()).some((c) => c.tool === 'kind' && c.args[0] === 'create')).toBe(false);
  });

  test('a cluster of that name that audit-lab did not make: up refuses, --recreate starts over', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ cluster: true, network: true });
    const port = String(await freePort());
    const r = await sb.run(['up', '--port', port]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('a kind cluster named "audit-lab" already exists');
    expect(r.stderr).toContain('--recreate');
    expect(hasCall(await sb.calls(), 'kind', ['delete'])).toBe(false);

    const again = await sb.run(['up', '--port', port, '--recreate']);
    ok(again);
    const calls = (await sb.calls()).map(line);
    expect(calls.indexOf('kind delete cluster --name audit-lab')).toBeLessThan(
      calls.findIndex((c) => c.startsWith('kind create cluster')),
    );
  });

  test('an existing lab asked for another image: up says it needs --recreate', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = String(await freePort());
    ok(await sb.run(['up', '--port', port]));
    const r = await sb.run(['up', '--image', 'kindest/node:v1.32.2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("(image kind's default -> kindest/node:v1.32.2): that needs a new cluster");
    expect(r.stderr).toContain('add --recreate');
    // Each change is named once, from and to: the batch wait the old message hid behind the image.
    const wait = await sb.run(['up', '--batch-max-wait', '1s']);
    expect(wait.code).toBe(2);
    expect(wait.stderr).toContain('(batch max wait 100ms -> 1s): that needs a new cluster');
  });

  test('kind fails mid-create: its output is shown, and up again finishes the job', async (t) => {
    const healthy = healthyTable();
    const failing = withRows(healthy, {
      kind: [
        {
          args: ['create', 'cluster', '...'],
          code: 1,
          stderr:
            'Creating cluster "audit-lab" ...\n ✓ Ensuring node image (kindest/node:v1.33.1) 🖼\n ✓ Preparing nodes 📦\n ✗ Starting control-plane 🕹️\n' +
            'ERROR: failed to create cluster: failed to init node with kubeadm: command "docker exec --privileged audit-lab-control-plane kubeadm init --skip-phases=preflight --config=/kind/kubeadm.conf --skip-token-print --v=6" failed with error: exit status 1\n',
        },
      ],
    });
    const sb = await sandbox(t, failing);
    const port = String(await freePort());
    const r = await sb.run(['up', '--port', port]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: kind could not create cluster "audit-lab"');
    expect(r.stderr).toContain(`command: kind create cluster --name audit-lab --config ${sb.labDir()}/config.yaml`);
    expect(r.stderr).toContain('command output:');
    expect(r.stderr).toContain('  ERROR: failed to create cluster: failed to init node with kubeadm');
    expect(r.stderr).toContain('✗ Starting control-plane');
    expect(r.stderr).toMatch(/hint: .*run `audit-lab up` again/);

    await sb.setTable(healthy);
    const again = await sb.run(['up', '--port', port]);
    ok(again);
    expect(again.stdout).toContain('lab "audit-lab" is up.');
  });

  test('the API server never gets ready: a timeout message with its last log lines', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ neverReady: true, network: true });
    const r = await sb.run(['up', '--port', String(await freePort())], { AUDIT_LAB_READY_TIMEOUT_MS: '400' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: the API server of cluster "audit-lab" did not become ready within 400ms');
    expect(r.stderr).toContain('was refused');
    expect(r.stderr).toContain('command: docker exec audit-lab-control-plane crictl logs --tail 30 3f2a9c0d1e7b');
    expect(r.stderr).toContain('loading audit webhook config: no such file');
    expect(r.stderr).toContain('audit-lab up --recreate');
  });

  test('the node cannot reach the receiver: up says where it listens and what may block it', async (t) => {
    const table = withRows(healthyTable(), {
      docker: [
        {
          args: ['exec', 'audit-lab-control-plane', 'curl', '...'],
          code: 7,
          stderr: 'curl: (7) Failed to connect to 127.0.0.1 port 1: Connection refused\n',
        },
      ],
    });
    const sb = await sandbox(t, table);
    await sb.setWorld({ network: true });
    const port = await freePort();
    const r = await sb.run(['up', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `error: the cluster's node cannot reach the receiver at https://127.0.0.1:${port}/healthz`,
    );
    expect(r.stderr).toContain('Connection refused');
    expect(r.stderr).toContain('firewall');
  });

  test('the receiver port is taken by another program', async (t) => {
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      const sb = await sandbox(t, healthyTable());
      await sb.setWorld({ network: true });
      const r = await sb.run(['up', '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`127.0.0.1:${port} is taken by another program`);
      expect(hasCall(await sb.calls(), 'kind', ['create'])).toBe(false);
    } finally {
      srv.close();
    }
  });
});

describe.concurrent('down', () => {
  test('down twice: stops the receiver, deletes the cluster, keeps the events; then nothing to do', async (t) => {
    const sb = await sandbox(t, healthyTable());
    ok(await sb.run(['up', '--port', String(await freePort())]));
    const pid = (await sb.receiverPid())!;
    const streams = join(sb.labDir(), 'streams');
    await mkdir(streams, { recursive: true });
    await writeFile(
      join(streams, 'default.log'),
      '{"auditID":"a","stage":"ResponseComplete","stageTimestamp":"2025-05-01T10:00:00.000000Z"}\n',
    );
    await sb.clearCalls();

    const first = await sb.run(['down']);
    ok(first);
    expect(first.stdout).toContain('stopped the receiver');
    expect(first.stderr).toContain('deleted cluster audit-lab');
    expect((await sb.calls()).map(line)).toContain('kind delete cluster --name audit-lab');
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(streams, 'default.log'))).toBe(true);

    await sb.clearCalls();
    const second = await sb.run(['down']);
    ok(second);
    expect(second.stdout).toContain('no cluster "audit-lab": nothing to delete');
    expect(hasCall(await sb.calls(), 'kind', ['delete'])).toBe(false);

    const purge = await sb.run(['down', '--purge']);
    ok(purge);
    expect(existsSync(sb.labDir())).toBe(false);
    const none = await sb.run(['down', '--purge']);
    ok(none);
    expect(none.stdout).toContain('no lab "audit-lab"');
  });

  test('a cluster with no lab is left alone', async (t) => {
    const sb = await sandbox(t, healthyTable());
    await sb.setWorld({ cluster: true });
    const r = await sb.run(['down']);
    ok(r);
    expect(r.stdout).toContain('has no audit-lab lab: left alone');
    expect(hasCall(await sb.calls(), 'kind', ['delete'])).toBe(false);
  });
});

describe.concurrent('status', () => {
  test('no lab and no cluster', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const r = await sb.run(['status', '--json']);
    ok(r);
    const j = JSON.parse(r.stdout) as StatusJson;
    expect(j.lab.exists).toBe(false);
    expect(j.mode).toBeNull();
    expect(j.cluster.exists).toBe(false);
    expect(j.receiver).toMatchObject({ running: false, url: null });
    expect(j.files).toMatchObject({ kindConfig: null, webhookKubeconfig: null, policy: null });
    expect(j.sinks).toEqual([]);
    expect(existsSync(sb.labDir())).toBe(false);
    const human = await sb.run(['status']);
    ok(human);
    expect(human.stdout).toMatch(/^lab\s+audit-lab: none yet/);
    expect(human.stdout).toMatch(/cluster\s+none/);
  });

  test('without kind on PATH it says so instead of claiming no cluster', async (t) => {
    const sb = await sandbox(t, healthyTable(), ['docker', 'kubectl']);
    const j = JSON.parse((await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(j.cluster.exists).toBe(false);
    expect(j.cluster.error).toBe('kind is not on PATH');
  });

  test('tells the truth when the cluster and the receiver died, and counts events across rotated streams', async (t) => {
    const sb = await sandbox(t, healthyTable());
    const port = await freePort();
    ok(await sb.run(['up', '--port', String(port)]));
    const streams = join(sb.labDir(), 'streams');
    await mkdir(streams, { recursive: true });
    const ev = (id: string, t: string) =>
      `${JSON.stringify({ auditID: id, stage: 'ResponseComplete', stageTimestamp: t })}\n`;
    await writeFile(
      join(streams, 'default.log'),
      ev('a', '2025-05-01T10:00:03.000000Z') + ev('b', '2025-05-01T10:00:04.000000Z'),
    );
    await writeFile(
      join(streams, 'default.log.1'),
      ev('c', '2025-05-01T10:00:01.000000Z') +
        ev('d', '2025-05-01T10:00:02.000000Z') +
        ev('e', '2025-05-01T10:00:02.500000Z'),
    );
    await writeFile(join(streams, 'default.log.x'), ev('ignored', '2025-05-01T10:00:09.000000Z'));

    let j = JSON.parse((await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(j.sinks[0]).toMatchObject({ name: 'default', events: 5, lastEvent: '2025-05-01T10:00:04.000000Z' });
    expect(j.receiver.running).toBe(true);

    const pid = (await sb.receiverPid())!;
    process.kill(pid, 'SIGKILL');
    await sb.setWorld({ cluster: false });
    expect(await eventually(() => !isAlive(pid))).toBe(true);
    j = JSON.parse((await sb.run(['status', '--json'])).stdout) as StatusJson;
    expect(j.cluster.exists).toBe(false);
    expect(j.receiver.running).toBe(false);
    expect(j.receiver.url).toBe(`https://127.0.0.1:${port}`);
    expect(j.problems.join('\n')).toContain('no cluster "audit-lab": `audit-lab up` makes it');
    const human = await sb.run(['status']);
    expect(human.stdout).toMatch(/receiver\s+not running/);
    // LAST EVENT: its age in the table (how long ago depends on today), its time with -o wide.
    expect(human.stdout).toMatch(/default\s+Metadata\s+ResponseComplete\s+5\s+\d+[smhd]$/m);
    expect((await sb.run(['status', '-o', 'wide'])).stdout).toMatch(
      /default\s+Metadata\s+ResponseComplete\s+5\s+2025-05-01T10:00:04.000000Z\s/,
    );
  });
});

describe.concurrent('doctor', () => {
  test('all there: versions, cgroup and port, exit 0', async (t) => {
    const sb = await sandbox(t, healthyTable({ cgroup: '1', kindVersion: '0.11.1' }));
    // A lab on a port of its own: doctor tries to listen where the lab's receiver will.
    const port = await freePort();
    const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null });
    await writeState(labPaths(sb.home, 'audit-lab'), { ...state, receiver: { ...state.receiver, port } });
    const r = await sb.run(['doctor']);
    ok(r);
    expect(r.stdout).toMatch(/✓ docker\s+Docker 28.1.1 on Ubuntu 24.04.2 LTS, daemon reachable/);
    expect(r.stdout).toMatch(/✓ kind\s+kind v0.11.1/);
    expect(r.stdout).toMatch(/✓ kubectl\s+kubectl v1.33.0/);
    expect(r.stdout).toMatch(/✓ cgroup\s+cgroup v1/);
    expect(r.stdout).toMatch(new RegExp(`✓ port\\s+127.0.0.1:${port} is free for the receiver`));
  });

  test.for([
    { taken: false, code: 0, says: 'is free for the receiver' },
    { taken: true, code: 1, says: 'is taken by another program, so the receiver cannot listen there' },
  ])(
    "cgroup v2 and a newer kind on a static lab: what dynamic mode would need is said, not warned; the lab's port taken: $taken",
    async ({ taken, code, says }, t) => {
      const sb = await sandbox(t, healthyTable({ cgroup: '2', kindVersion: '0.29.0' }));
      const { createServer } = await import('node:net');
      const other = createServer();
      await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
      t.onTestFinished(() => void other.close());
      const port = taken ? (other.address() as { port: number }).port : await freePort();
      const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null });
      await writeState(labPaths(sb.home, 'audit-lab'), { ...state, receiver: { ...state.receiver, port } });
      const r = await sb.run(['doctor', '--json']);
      const j = JSON.parse(r.stdout) as {
        ok: boolean;
        checks: { check: string; status: string; message: string; fix?: string }[];
      };
      const by = (c: string) => j.checks.find((x) => x.check === c)!;
      expect(by('cgroup')).toMatchObject({ status: 'ok' });
      expect(by('cgroup').message).toContain("dynamic mode's node images");
      expect(by('kind release')).toMatchObject({ status: 'ok' });
      expect(by('kind release').message).toContain('kind v0.11.1');
      expect(by('port').message).toBe(`127.0.0.1:${port} ${says}`);
      expect(r.code).toBe(code);
      expect(j.ok).toBe(code === 0);
    },
  );
});
