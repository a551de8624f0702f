#!/usr/bin/env node
/**
 * audit-lab with `--provider binary`, end to end through its own commands, on real binaries (etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler built offline from Go modules by
 * test/binary/offline.sh): static mode on v1.37.2 and dynamic mode (real AuditSinks) on v1.18.19.
 * In each: up (timed), a second up that changes nothing (timed), status, kubectl requests found in
 * `tail` with each sink's level and stages, the loop's latency, a RequestResponse sink, down
 * (nothing left running, no port held, the kubeconfig context gone, the events kept), up again
 * (events and sinks back), down --purge. No Docker.
 *
 *   AUDIT_LAB_BINARY_{STATIC,DYNAMIC}_DIR, AUDIT_LAB_BINARY_ETCD   binaries to use (default: offline.sh's)
 *   AUDIT_LAB_E2E_MODE=static|dynamic|both (default both)
 *   AUDIT_LAB_E2E_KEEP=1   leave the labs behind for a look
 */
import { mkdtemp, readFile, rm, stat, symlink, mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  BIN,
  capture,
  check,
  expectInSink,
  newEventsKeepOld,
  upAfterDown,
  Failure,
  freePort,
  Lab,
  measureLatency,
  notRun,
  reportFailure,
  reportSteps,
  ROOT,
  secs,
  step,
  toolDir,
} from '../kind/lab.mjs';

async function offlineDirs() {
  if (process.env.AUDIT_LAB_BINARY_STATIC_DIR && process.env.AUDIT_LAB_BINARY_DYNAMIC_DIR) return process.env;
  const r = await capture('bash', [join(ROOT, 'test', 'binary', 'offline.sh')], { env: process.env });
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new Failure(`test/binary/offline.sh exited ${r.code}`);
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** A --bin-dir holding the four binaries of `dir`, etcd from `etcd` when `dir` has none. */
async function binDir(base, dir, etcd) {
  await mkdir(base, { recursive: true });
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
    await symlink(join(dir, name), join(base, name));
  const own = await stat(join(dir, 'etcd')).then(
    () => true,
    () => false,
  );
  await symlink(own ? join(dir, 'etcd') : etcd, join(base, 'etcd'));
  return base;
}

const portOpen = (port) =>
  new Promise((done) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      done(true);
    });
    s.on('error', () => done(false));
  });

/** The lab's control plane: its ports from the state, and which of its pid files name a live process. */
async function plane(lab) {
  const state = JSON.parse(await readFile(join(lab.dir, 'state.json'), 'utf8'));
  const ports = Object.values(state.binary.ports);
  const open = [];
  for (const p of ports) if (await portOpen(p)) open.push(p);
  return { ports, open };
}

async function contexts(lab) {
  const r = await capture('kubectl', ['config', 'get-contexts', '-o', 'name'], { env: lab.env });
  return r.stdout.split('\n').filter(Boolean);
}

async function basics(lab) {
  let started = performance.now();
  await step(`${lab.mode}: up --provider binary`, () =>
    lab.alLive(['up', '--provider', 'binary', '--bin-dir', lab.binDir, '--port', String(lab.port), '--verbose']),
  );
  lab.upTimes = { first: performance.now() - started };
  await step(`${lab.mode}: up again changes nothing`, async () => {
    started = performance.now();
    const r = await lab.al(['up']);
    lab.upTimes.second = performance.now() - started;
    check(r.stdout.includes('is up already; nothing to change'), 'a second up did not say "nothing to change"');
  });
  const st = await step(`${lab.mode}: status --json`, async () => {
    const s = await lab.status();
    console.log(`  ${JSON.stringify({ mode: s.mode, cluster: s.cluster, receiver: s.receiver })}`);
    check(s.mode === lab.mode, `status says mode ${s.mode}`);
    check(s.cluster.exists && s.cluster.running && s.cluster.ready, 'status: the cluster is not up and ready');
    check(s.receiver.running && s.receiver.healthy, 'status: the receiver is not running and healthy');
    return s;
  });
  lab.kubernetesVersion = st.cluster.kubernetesVersion;
  await step(`${lab.mode}: doctor`, () => lab.al(['doctor']));
  check((await contexts(lab)).includes(lab.context), `kubeconfig has no context ${lab.context}`);
}

async function requests(lab, ns, wait) {
  await step(`${lab.mode}: kubectl requests in the default sink`, async () => {
    await lab.kubectl(['create', 'namespace', ns]);
    await lab.kubectl(['create', 'configmap', 'cm1', '-n', ns, '--from-literal=a=1']);
    await lab.kubectl(['get', 'configmap', 'cm1', '-n', ns, '-o', 'name']);
    await lab.kubectl(['delete', 'configmap', 'cm1', '-n', ns, '--wait=false']);
    await expectInSink(
      lab,
      'default',
      'Metadata',
      ['ResponseComplete'],
      [
        { verb: 'create', resource: 'namespaces', name: ns },
        { verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm1' },
        { verb: 'get', resource: 'configmaps', namespace: ns, name: 'cm1' },
        { verb: 'delete', resource: 'configmaps', namespace: ns, name: 'cm1' },
      ],
      wait,
    );
  });
  await step(
    `${lab.mode}: the controller-manager works (a new namespace gets its default ServiceAccount)`,
    async () => {
      const deadline = Date.now() + wait;
      for (;;) {
        const r = await lab.kubectl(['get', 'serviceaccount', 'default', '-n', ns, '-o', 'name'], {
          allow: [0, 1],
          quiet: true,
        });
        if (r.code === 0) break;
        check(Date.now() < deadline, `no default ServiceAccount in ${ns} after ${secs(wait)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
  );
}

async function fullSink(lab, ns, wait) {
  await step(`${lab.mode}: a RequestResponse sink keeps bodies`, async () => {
    await lab.al(['sink', 'create', 'full', '--level', 'RequestResponse', '--stage', 'ResponseComplete']);
    await lab.kubectl(['create', 'configmap', 'cm-full', '-n', ns, '--from-literal=k=v']);
    await expectInSink(
      lab,
      'full',
      'RequestResponse',
      ['ResponseComplete'],
      [{ verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm-full' }],
      wait,
    );
  });
}

const pidOf = async (lab, component) =>
  (await readFile(join(lab.dir, 'controlplane', `${component}.pid`), 'utf8')).split('\n')[0];

/**
 * The narrow capture (`up --capture sinks`): a sink wider than it restarts kube-apiserver (its two
 * clients, the controller-manager and the scheduler, stopped before it and started after), never
 * etcd, timed from the ask to its first event.
 */
async function narrowCapture(lab, ns, wait) {
  await step(`${lab.mode}: --capture sinks, then a wider sink restarts kube-apiserver, not etcd`, async () => {
    await lab.al(['up', '--capture', 'sinks']);
    const [apiserver, etcd] = [await pidOf(lab, 'kube-apiserver'), await pidOf(lab, 'etcd')];
    const asked = performance.now();
    // RequestReceived: a stage no sink has asked for yet, so the narrow capture lacks it.
    const r = await lab.al([
      'sink',
      'create',
      'wide',
      '--level',
      'RequestResponse',
      '--stage',
      'RequestReceived',
      '--stage',
      'ResponseComplete',
    ]);
    check(/restart/i.test(r.stdout + r.stderr), `sink create did not say it restarts the API server:\n${r.stderr}`);
    await lab.kubectl(['create', 'configmap', 'cm-wide', '-n', ns, '--from-literal=k=v']);
    await expectInSink(
      lab,
      'wide',
      'RequestResponse',
      ['RequestReceived', 'ResponseComplete'],
      [{ verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm-wide' }],
      wait,
    );
    lab.narrowSinkCreate = performance.now() - asked;
    check((await pidOf(lab, 'kube-apiserver')) !== apiserver, 'kube-apiserver was not restarted');
    check((await pidOf(lab, 'etcd')) === etcd, 'etcd was restarted too');
    console.log(`  sink create with the narrow capture: first event ${secs(lab.narrowSinkCreate)} after it was asked`);
  });
}

async function downAndBack(lab, ns, wait) {
  const before = await lab.events('default');
  const { ports } = await plane(lab);
  await step(`${lab.mode}: down stops every process and keeps the events`, async () => {
    await lab.al(['down']);
    const { open } = await plane(lab);
    check(open.length === 0, `ports still held after down: ${open.join(', ')}`);
    check(!(await contexts(lab)).includes(lab.context), `kubeconfig still has context ${lab.context}`);
    check((await lab.events('default')).length >= before.length, 'down lost events');
    const s = await lab.status();
    check(!s.cluster.exists, 'status says the cluster exists after down');
  });
  await step(`${lab.mode}: up again brings sinks and events back`, async () => {
    await upAfterDown(lab, lab.sinks);
    // etcd's data was kept: the namespace made before down is still there.
    await lab.kubectl(['get', 'namespace', ns, '-o', 'name']);
    await newEventsKeepOld(lab, `${ns}-again`, wait, before);
  });
  await step(`${lab.mode}: down --purge leaves nothing`, async () => {
    await lab.al(['down', '--purge']);
    const open = [];
    for (const p of ports) if (await portOpen(p)) open.push(p);
    check(open.length === 0, `ports still held after down --purge: ${open.join(', ')}`);
    const gone = await stat(lab.dir).then(
      () => false,
      () => true,
    );
    check(gone, `down --purge left ${lab.dir}`);
  });
}

async function flow(lab) {
  const ns = `bin-${Date.now()}`;
  // The dynamic backend batches with its built-in defaults: events arrive up to ~30 s late.
  const wait = lab.mode === 'dynamic' ? 120_000 : 60_000;
  await basics(lab);
  await requests(lab, ns, wait);
  await step(`${lab.mode}: latency, kubectl -> a following tail`, async () => {
    const count = lab.mode === 'dynamic' ? 10 : 50;
    lab.latency = await measureLatency(lab, ns, { count, spacingMs: lab.mode === 'dynamic' ? 500 : 300, waitMs: wait });
    console.log(
      `  ${lab.mode} latency: p50 ${lab.latency.p50} ms, p99 ${lab.latency.p99} ms (${lab.latency.n} requests)`,
    );
  });
  await fullSink(lab, ns, wait);
  lab.sinks = ['default', 'full'];
  if (lab.mode === 'static') {
    await narrowCapture(lab, ns, wait);
    lab.sinks.push('wide');
  }
  await downAndBack(lab, ns, wait);
}

async function main() {
  const started = Date.now();
  const wanted =
    (process.env.AUDIT_LAB_E2E_MODE ?? 'both') === 'both' ? ['static', 'dynamic'] : [process.env.AUDIT_LAB_E2E_MODE];
  for (const m of wanted)
    if (m !== 'static' && m !== 'dynamic') notRun(`AUDIT_LAB_E2E_MODE=${m}: use static, dynamic or both`);
  const dirs = await offlineDirs();
  const home = await mkdtemp(join(tmpdir(), 'audit-lab-binary-'));
  const failures = [];
  const ran = [];
  const labs = [];
  try {
    for (const mode of wanted) {
      const M = mode.toUpperCase();
      const dir = dirs[`AUDIT_LAB_BINARY_${M}_DIR`];
      const tools = await toolDir(join(home, `tools-${mode}`), { kubectl: join(dir, 'kubectl') });
      const env = {
        ...process.env,
        PATH: `${tools}${delimiter}${process.env.PATH}`,
        AUDIT_LAB_HOME: join(home, 'labs'),
        AUDIT_LAB_CACHE_DIR: join(home, 'cache'),
        KUBECONFIG: join(home, `kubeconfig-${mode}`),
        NO_COLOR: '1',
      };
      const name = `albin-${mode}`;
      const lab = new Lab({ mode, name, home: env.AUDIT_LAB_HOME, env, context: `audit-lab-${name}` });
      lab.binDir = await binDir(join(home, `bin-${mode}`), dir, dirs.AUDIT_LAB_BINARY_ETCD);
      lab.port = await freePort();
      labs.push(lab);
      console.log(`\n======== ${mode} mode: binaries in ${dir}`);
      const modeStart = Date.now();
      try {
        await flow(lab);
        ran.push(`${mode} (Kubernetes ${lab.kubernetesVersion}) in ${secs(Date.now() - modeStart)}`);
      } catch (err) {
        await reportFailure(lab, err, failures, [
          'receiver.log',
          'controlplane/kube-apiserver.log',
          'controlplane/etcd.log',
        ]);
      } finally {
        if (process.env.AUDIT_LAB_E2E_KEEP !== '1')
          await capture(process.execPath, [BIN, 'down', '--purge', '--name', lab.name], { env });
      }
    }
  } finally {
    if (process.env.AUDIT_LAB_E2E_KEEP !== '1') await rm(home, { recursive: true, force: true });
    else console.log(`kept: ${home}`);
  }
  reportSteps('binary', started, failures, ran);
  for (const l of labs) {
    const t = l.upTimes;
    console.log(
      `up ${l.mode} (binary, Kubernetes ${l.kubernetesVersion}): first ${secs(t.first)}, second ${secs(t.second)} (nothing to change), after down ${secs(t.afterDown)}`,
    );
    if (l.narrowSinkCreate)
      console.log(
        `sink create ${l.mode} (binary), --capture sinks: first event ${secs(l.narrowSinkCreate)} after it was asked; kube-apiserver restarted: yes`,
      );
    console.log(
      `latency ${l.mode} (binary): p50 ${l.latency.p50} ms, p99 ${l.latency.p99} ms, max ${l.latency.max} ms (${l.latency.n} requests)`,
    );
  }
  console.log(`binary: ${ran.length} passed, 0 failed`);
}

await main();
