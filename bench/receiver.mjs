#!/usr/bin/env node
// Receiver benchmark: the real `audit-lab serve` (a child process, as `up` runs it) on loopback with
// mutual TLS and three static-mode sinks, fed 400-event EventLists of ~1 KB events.
// Prints figures and their ratio to a baseline measured in the same run; asserts nothing.
// Run: npm run bench:receiver   (builds first; imports from dist/)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLab } from '../dist/lab/lab.js';
import { withLabLock } from '../dist/lab/lock.js';
import { labPaths } from '../dist/lab/paths.js';
import { newSinkState, writeState } from '../dist/lab/state.js';

const BIN = fileURLToPath(new URL('../bin/audit-lab.js', import.meta.url));
const BATCH = 400;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const RSS_EVENTS = Number(process.env.BENCH_RSS_EVENTS ?? 1_000_000);

// ---- events: a realistic RequestResponse capture, ~1 KB, unique auditID per event ----
function template(stage) {
  const ev = {
    level: 'RequestResponse',
    auditID: '@ID@',
    stage,
    requestURI: '/api/v1/namespaces/kube-system/configmaps/kube-proxy?fieldManager=kubectl-client-side-apply',
    verb: 'patch',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['172.18.0.1'],
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    objectRef: { resource: 'configmaps', namespace: 'kube-system', name: 'kube-proxy', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestObject: { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(120) } }, data: { 'config.conf': 'mode: iptables' } },
    responseObject: {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { name: 'kube-proxy', namespace: 'kube-system', uid: '3f1c0a4e-9a43-4a55-9d3e-1b2f9e8f6c11', resourceVersion: '123456', creationTimestamp: '2024-05-01T09:59:00Z' },
      data: { 'config.conf': 'mode: iptables', kubeconfig: 'y'.repeat(90) },
    },
    requestReceivedTimestamp: '2024-05-01T10:00:00.000000Z',
    stageTimestamp: '2024-05-01T10:00:00.002000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "cluster-admin"' },
  };
  if (stage === 'RequestReceived') {
    delete ev.responseStatus;
    delete ev.responseObject;
  }
  return JSON.stringify(ev).split('"@ID@"');
}
const T_DONE = template('ResponseComplete');
const T_RECV = template('RequestReceived');
const RUN = randomBytes(4).toString('hex');
let counter = 0;
function nextId() {
  const n = (counter++).toString(16).padStart(12, '0');
  return `"${RUN}-0000-4000-8000-${n}"`;
}
function makeBody(n = BATCH) {
  const items = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = i % 10 === 0 ? T_RECV : T_DONE;
    items[i] = t[0] + nextId() + t[1];
  }
  return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${items.join(',')}]}`;
}

// ---- the lab and the receiver process ----
const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-'));
const paths = labPaths(home, 'bench');
const lab = await withLabLock(paths, 'bench', () => ensureLab(paths, { withDefaultSink: false }));
lab.state.mode = 'static';
lab.state.receiver.port = 0;
const t = { qps: 10, burst: 15 };
lab.state.sinks = [
  newSinkState({ name: 'default', level: 'Metadata', stages: ['ResponseComplete'], throttle: t }),
  newSinkState({ name: 'requests', level: 'Request', stages: ['RequestReceived', 'ResponseComplete'], throttle: t }),
  newSinkState({ name: 'full', level: 'RequestResponse', stages: ['ResponseComplete'], throttle: t }),
];
await writeState(paths, lab.state);

async function startServe() {
  const child = spawn(process.execPath, [BIN, 'serve', '--name', 'bench'], {
    env: { ...process.env, AUDIT_LAB_HOME: home, NO_COLOR: '1' },
    // The per-batch log lines go where a backgrounded receiver's go: a file.
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const m = /^(https:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
  return { child, url, stop };
}

function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return NaN; // not Linux
  }
}

function makeAgent(sockets) {
  return new Agent({ keepAlive: true, maxSockets: sockets, ca: lab.pki.ca.cert, cert: lab.pki.client.cert, key: lab.pki.client.key });
}

function post(url, agent, body) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      `${url}/events`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Bodies are made before the clock starts (unique auditIDs each), so only sending and receiving are timed. */
async function throughput(url, senders, ms, pool = 250) {
  const bodies = Array.from({ length: pool }, () => makeBody());
  const agent = makeAgent(senders);
  let events = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (performance.now() < deadline && next < bodies.length) {
        await post(url, agent, bodies[next++]);
        events += BATCH;
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  return events / secs;
}

/** Open loop: batches leave on schedule whether or not earlier ones were answered. */
async function latency(url, eventsPerSec, batch, ms) {
  const agent = makeAgent(16);
  const perSec = eventsPerSec / batch;
  const n = Math.round((perSec * ms) / 1000);
  const bodies = Array.from({ length: n }, () => makeBody(batch));
  await post(url, agent, makeBody(batch)); // connection warm-up, not measured
  const lat = [];
  const start = performance.now();
  const inflight = [];
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / perSec;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(post(url, agent, bodies[i]).then((l) => lat.push(l)));
  }
  await Promise.all(inflight);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { n: lat.length, p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] };
}

function parseOnly(ms) {
  const bodies = Array.from({ length: 20 }, () => makeBody());
  let events = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    for (const b of bodies) events += JSON.parse(b).items.length;
  }
  return events / ((performance.now() - start) / 1000);
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const eventBytes = Math.round((makeBody().length - 70) / BATCH);
console.log(`receiver benchmark: node ${process.version}, 3 static-mode sinks, mutual TLS on loopback, ${BATCH}-event EventLists, ~${eventBytes} B/event`);

try {
  const baseline = parseOnly(2000);
  console.log(`JSON.parse alone, same bodies:    ${fmt(baseline)} events/s (baseline)`);

  let r = await startServe();
  const one = await throughput(r.url, 1, PHASE_MS);
  console.log(`throughput, 1 sender:             ${fmt(one)} events/s   ${(one / baseline).toFixed(2)} x parse-only   (target >= 100,000 and >= 0.35)`);
  const four = await throughput(r.url, 4, PHASE_MS);
  console.log(`throughput, 4 senders:            ${fmt(four)} events/s   ${(four / baseline).toFixed(2)} x parse-only   (target >= 100,000 and >= 0.35)`);

  for (const batch of [400, 50]) {
    const l = await latency(r.url, 4000, batch, PHASE_MS);
    console.log(
      `ack latency at 4,000 events/s, ${String(batch).padStart(3)}-event batches: p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(2)} ms (${l.n} batches; target p99 < 20 ms)`,
    );
  }
  await r.stop();

  // A fresh receiver, so its peak RSS covers this phase only.
  r = await startServe();
  const agent = makeAgent(4);
  let sent = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (sent < RSS_EVENTS) {
        sent += BATCH;
        await post(r.url, agent, makeBody());
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  const peak = peakRssMb(r.child.pid);
  await r.stop();
  console.log(`peak RSS over ${fmt(sent)} events: ${peak.toFixed(1)} MB (VmHWM of the receiver process; target < 150 MB), at ${fmt(sent / secs)} events/s`);
} finally {
  await rm(home, { recursive: true, force: true });
}
