#!/usr/bin/env node
// The live loop's settings on a real kind cluster, and what they cost. One static lab, measured in
// three settings in the same run:
//   before     --batch-max-wait 1s    --capture sinks   (the baseline: a lab made before)
//   narrow     --batch-max-wait 100ms --capture sinks   (the narrow capture, asked for)
//   new lab    --batch-max-wait 100ms --capture full    (what `up` makes today)
// For each: the loop's latency (kubectl returns -> a following `tail -o jsonl` prints the event,
// BENCH_LATENCY_REQUESTS requests), then over BENCH_IDLE_SECONDS with nothing made by us, and over
// a burst of BENCH_CREATES config map creates (8 at a time, straight to the API): the CPU time of
// the kube-apiserver process on the node (/proc/PID/stat in the node container), the receiver's
// CPU time, and the bytes and batches the API server sent (each batch's size from receiver.log).
// Prints figures and each setting's ratio to the baseline; asserts nothing.
//
//   npm run bench:capture    BENCH_IDLE_SECONDS (60), BENCH_CREATES (1000), BENCH_LATENCY_REQUESTS (50)
//
// Needs what test:kind needs: Docker, kind and kubectl, or AUDIT_LAB_E2E_OFFLINE=1 (the default
// with CI=true) to build or reuse them with ../shared/kind-offline; AUDIT_LAB_E2E_STATIC_IMAGE etc.
// choose the node image as there. About 10 minutes on two cores with cached images.
import { open, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  apiServerProcess,
  burst,
  capture,
  check,
  followTail,
  freePort,
  Lab,
  measureLatency,
  notRun,
  offlineSettings,
  secs,
  sleep,
  toolDir,
} from '../kind/lab.mjs';

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const CREATES = Number(process.env.BENCH_CREATES ?? 1000);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 50);
// After up, the cluster's own controllers start pods and settle their watches: not idle yet.
const SETTLE_MS = 20_000;
const WAIT_MS = 90_000;

const SETTINGS = [
  { label: 'before (1s, sinks)', up: ['--batch-max-wait', '1s', '--capture', 'sinks'] },
  { label: 'narrow (100ms, sinks)', up: ['--recreate', '--batch-max-wait', '100ms', '--capture', 'sinks'] },
  { label: 'new lab (100ms, full)', up: ['--capture', 'full'] },
];

/** CPU seconds (user + system) of a process, from a /proc/PID/stat line. */
function cpuSeconds(statLine) {
  // The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** What the meters read now: the API server's and the receiver's CPU, and where receiver.log ends. */
async function meters(lab) {
  const api = await apiServerProcess(lab);
  const receiverPid = (await lab.status()).receiver.pid;
  return {
    apiPid: api.pid,
    apiCpu: cpuSeconds(api.stat),
    receiverPid,
    receiverCpu: cpuSeconds(await readFile(`/proc/${receiverPid}/stat`, 'utf8')),
    logAt: (await stat(join(lab.dir, 'receiver.log'))).size,
  };
}

/** Batches, events and bytes the receiver took from `from`'s log offset to `to`'s. */
async function sent(lab, from, to) {
  const f = await open(join(lab.dir, 'receiver.log'), 'r');
  try {
    const buf = Buffer.alloc(to.logAt - from.logAt);
    await f.read(buf, 0, buf.length, from.logAt);
    let batches = 0;
    let events = 0;
    let bytes = 0;
    for (const m of buf.toString('utf8').matchAll(/ 200 POST \/events (\d+) events in (\d+) bytes /g)) {
      batches++;
      events += Number(m[1]);
      bytes += Number(m[2]);
    }
    return { batches, events, bytes };
  } finally {
    await f.close();
  }
}

/** The difference between two meter readings, both taken from the same processes. */
async function between(lab, from, to) {
  check(
    from.apiPid === to.apiPid && from.receiverPid === to.receiverPid,
    'the API server or the receiver restarted while it was measured',
  );
  return {
    apiCpu: to.apiCpu - from.apiCpu,
    receiverCpu: to.receiverCpu - from.receiverCpu,
    ...(await sent(lab, from, to)),
  };
}

async function measure(lab, setting, n) {
  console.log(`\n=== ${setting.label}`);
  const started = Date.now();
  await lab.al([
    'up',
    '--mode',
    'static',
    ...(lab.image ? ['--image', lab.image] : []),
    '--port',
    String(lab.port),
    ...setting.up,
  ]);
  console.log(`  up: ${secs(Date.now() - started)}`);
  const ns = `bench-${n}-${Date.now()}`;
  await lab.kubectl(['create', 'namespace', ns]);
  await sleep(SETTLE_MS);

  const latency = await measureLatency(lab, ns, { count: LATENCY_REQUESTS, spacingMs: 300, waitMs: WAIT_MS });
  console.log(`  latency: p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${latency.n} requests)`);

  let from = await meters(lab);
  await sleep(IDLE_SECONDS * 1000);
  const idle = await between(lab, from, await meters(lab));
  console.log(`  idle ${IDLE_SECONDS}s: ${describe(idle)}`);

  // The burst is over for the receiver when a following tail has printed every create.
  const prefix = `burst-${n}`;
  const tail = followTail(
    lab,
    'default',
    (e) =>
      e.verb === 'create' && e.objectRef?.namespace === ns && e.objectRef?.name?.startsWith(prefix)
        ? e.objectRef.name
        : null,
    ['--tail', '0'],
  );
  try {
    await sleep(1000);
    from = await meters(lab);
    const accepted = await burst(lab, ns, { count: CREATES, prefix });
    check(accepted === CREATES, `the API server accepted ${accepted} of ${CREATES} creates`);
    await tail.until(
      Array.from({ length: CREATES }, (_, i) => `${prefix}-${i}`),
      WAIT_MS,
    );
  } finally {
    tail.stop();
  }
  const creates = await between(lab, from, await meters(lab));
  console.log(`  ${CREATES} creates: ${describe(creates)}`);
  return { label: setting.label, latency, idle, creates };
}

const kib = (b) => `${Math.round(b / 1024)} KiB`;
const describe = (m) =>
  `kube-apiserver ${m.apiCpu.toFixed(2)} s CPU, receiver ${m.receiverCpu.toFixed(2)} s CPU, ${kib(m.bytes)} in ${m.batches} batches (${m.events} events)`;
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

async function main() {
  const offline =
    process.env.AUDIT_LAB_E2E_OFFLINE === '1' || (Boolean(process.env.CI) && process.env.AUDIT_LAB_E2E_OFFLINE !== '0');
  const settings = { ...process.env, ...(offline ? await offlineSettings() : {}) };
  const docker = await capture('docker', ['info', '--format', '{{.ServerVersion}}'], { env: settings });
  if (docker.code !== 0)
    notRun(`the Docker daemon is not reachable (${(docker.stderr || 'docker is not on PATH').trim().split('\n')[0]})`);

  const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-capture-'));
  const bin = await toolDir(join(home, 'bin'), {
    kind: settings.AUDIT_LAB_E2E_STATIC_KIND,
    kubectl: settings.AUDIT_LAB_E2E_STATIC_KUBECTL,
  });
  const env = {
    ...settings,
    PATH: `${bin}${delimiter}${settings.PATH}`,
    AUDIT_LAB_HOME: join(home, 'labs'),
    KUBECONFIG: join(home, 'kubeconfig'),
    NO_COLOR: '1',
  };
  const lab = new Lab({
    mode: 'static',
    name: 'albench',
    home: env.AUDIT_LAB_HOME,
    env,
    image: settings.AUDIT_LAB_E2E_STATIC_IMAGE,
  });
  lab.port = await freePort();
  const kind = (await capture('kind', ['version'], { env })).stdout.trim();
  await capture('kind', ['delete', 'cluster', '--name', lab.name], { env });
  const results = [];
  try {
    for (const [n, setting] of SETTINGS.entries()) results.push(await measure(lab, setting, n));
    lab.kubernetesVersion = (await lab.status()).cluster.kubernetesVersion;
  } finally {
    await capture(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'bin', 'audit-lab.js'), 'down', '--purge', '--name', lab.name],
      { env },
    );
    await capture('kind', ['delete', 'cluster', '--name', lab.name], { env });
    await rm(home, { recursive: true, force: true });
  }

  const [base] = results;
  console.log(
    `\nbench:capture on Kubernetes ${lab.kubernetesVersion}, ${kind}; idle ${IDLE_SECONDS}s, ${CREATES} creates; ratios against "${base.label}"`,
  );
  for (const r of results) {
    console.log(`${r.label}`);
    console.log(
      `  latency      p50 ${r.latency.p50} ms (${ratio(r.latency.p50, base.latency.p50)}), p99 ${r.latency.p99} ms (${ratio(r.latency.p99, base.latency.p99)})`,
    );
    for (const [what, m, b] of [
      ['idle', r.idle, base.idle],
      ['creates', r.creates, base.creates],
    ]) {
      console.log(
        `  ${what.padEnd(12)} kube-apiserver ${m.apiCpu.toFixed(2)} s (${ratio(m.apiCpu, b.apiCpu)}), receiver ${m.receiverCpu.toFixed(2)} s (${ratio(m.receiverCpu, b.receiverCpu)}), sent ${kib(m.bytes)} (${ratio(m.bytes, b.bytes)}) in ${m.batches} batches`,
      );
    }
  }
}

await main();
