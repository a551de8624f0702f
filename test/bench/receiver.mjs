#!/usr/bin/env node
// Receiver benchmark: the real `audit-lab serve`, started by ensureReceiver exactly as `up` and
// `tail` start it (same node flags, detached, logging to the lab's receiver.log), on loopback with
// mutual TLS and three static-mode sinks, fed 400-event EventLists of ~1 KB events.
// Prints figures and their ratio to a baseline measured in the same run; asserts nothing.
// Run: npm run bench:receiver   (builds first; imports from dist/)
// BENCH_PHASE_MS, BENCH_RSS_EVENTS and BENCH_NODE_ARGS (e.g. --cpu-prof) tune a run; BENCH_KEEP=1 keeps the lab (receiver.log).
// The receiver acknowledges a batch only once fdatasync has it on disk (the real path, measured
// first); the same phases then run with serve's hidden --skip-fsync-for-benchmark (a receiver that
// skips the syncs, for this comparison only) to show what durability costs.
// Last, the peers (BENCH_PEERS=0 skips them): the same 4-sender throughput phase against receivers
// written by hand (test/bench/peers/: a naive Node one, a Go standard-library one raw, raw with
// fdatasync, and decoding every event), in interleaved rounds with audit-lab, and audit-lab's ratio to each.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLab } from '../../dist/lab/lab.js';
import { withLabLock } from '../../dist/lab/lock.js';
import { labPaths } from '../../dist/lab/paths.js';
import { newSinkState, writeState } from '../../dist/lab/state.js';
import { ensureReceiver, stopReceiver } from '../../dist/daemon/daemon.js';
import { PKI_FILES } from '../../dist/lab/pki.js';
import { buildGoPeer, haveGo, naivePeer, startPeer, stopPeers } from './peers/peers.mjs';

const BATCH = 400;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const RSS_EVENTS = Number(process.env.BENCH_RSS_EVENTS ?? 1_000_000);
const PEERS = process.env.BENCH_PEERS !== '0';
const PEER_ROUNDS = 3;

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
    requestObject: {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(120) } },
      data: { 'config.conf': 'mode: iptables' },
    },
    responseObject: {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: {
        name: 'kube-proxy',
        namespace: 'kube-system',
        uid: '3f1c0a4e-9a43-4a55-9d3e-1b2f9e8f6c11',
        resourceVersion: '123456',
        creationTimestamp: '2024-05-01T09:59:00Z',
      },
      data: { 'config.conf': 'mode: iptables', kubeconfig: 'y'.repeat(90) },
    },
    requestReceivedTimestamp: '2024-05-01T10:00:00.000000Z',
    stageTimestamp: '2024-05-01T10:00:00.002000Z',
    annotations: {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "cluster-admin"',
    },
  };
  if (stage === 'RequestReceived') {
    delete ev.responseStatus;
    delete ev.responseObject;
  }
  return JSON.stringify(ev).split('"@ID@"');
}

// A body is built once as bytes, with the offset of each auditID's counter digits; every body sent
// is a copy of it with fresh counters written in. The senders share the receiver's two cores, so
// what they spend per batch (stringify, encode) is taken from the receiver's figures.
const RUN = randomBytes(4).toString('hex');
const ID_DIGITS = 12;
function bodyTemplate(n) {
  const T_DONE = template('ResponseComplete');
  const T_RECV = template('RequestReceived');
  const head = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`;
  let text = head;
  const offsets = [];
  for (let i = 0; i < n; i++) {
    const t = i % 10 === 0 ? T_RECV : T_DONE;
    const idPrefix = `"${RUN}-0000-4000-8000-`;
    text += (i > 0 ? ',' : '') + t[0] + idPrefix;
    offsets.push(text.length); // ASCII only: string offsets are byte offsets
    text += `${'0'.repeat(ID_DIGITS)}"${t[1]}`;
  }
  text += ']}';
  return { buf: Buffer.from(text), offsets };
}
const TEMPLATES = new Map();
let counter = 0;
const HEX = Buffer.from('0123456789abcdef');
function makeBody(n = BATCH) {
  let t = TEMPLATES.get(n);
  if (!t) TEMPLATES.set(n, (t = bodyTemplate(n)));
  const b = Buffer.from(t.buf);
  for (const off of t.offsets) {
    let c = counter++;
    for (let d = ID_DIGITS - 1; d >= 0; d--) {
      b[off + d] = HEX[c & 15];
      c = Math.floor(c / 16);
    }
  }
  return b;
}

// ---- the lab and the receiver process ----
const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-'));
const paths = labPaths(home, 'bench');
const lab = await withLabLock(paths, 'bench', () => ensureLab(paths));
lab.state.mode = 'static';
lab.state.receiver.port = 0;
const t = { qps: 10, burst: 15 };
lab.state.sinks = [
  newSinkState({ name: 'default', level: 'Metadata', stages: ['ResponseComplete'], throttle: t }),
  newSinkState({ name: 'requests', level: 'Request', stages: ['RequestReceived', 'ResponseComplete'], throttle: t }),
  newSinkState({ name: 'full', level: 'RequestResponse', stages: ['ResponseComplete'], throttle: t }),
];
await writeState(paths, lab.state);

async function startServe({ sync = true } = {}) {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const serveArgs = sync ? [] : ['--skip-fsync-for-benchmark'];
  const { pid, url } = await ensureReceiver(paths, { nodeArgs, serveArgs });
  return { pid, url, stop: () => stopReceiver(paths) };
}

function procStatus(pid, field) {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return NaN; // not Linux
  }
}

/** CPU seconds (user + system) the process has used so far, from /proc; NaN elsewhere. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function makeAgent(sockets) {
  return new Agent({
    keepAlive: true,
    maxSockets: sockets,
    ca: lab.pki.ca.cert,
    cert: lab.pki.client.cert,
    key: lab.pki.client.key,
  });
}

function post(url, agent, body) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      `${url}/events`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
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

/** Measures a phase: wall time, the receiver's and this process's CPU time. */
async function phase(pid, fn) {
  const c0 = cpuSeconds(pid);
  const s0 = selfCpu();
  const w0 = performance.now();
  const result = await fn();
  return {
    ...result,
    secs: (performance.now() - w0) / 1000,
    receiverCpu: cpuSeconds(pid) - c0,
    senderCpu: selfCpu() - s0,
  };
}

/** Closed loop: `senders` connections, each posting its next batch once the last is answered. */
async function throughput(r, senders, ms) {
  const agent = makeAgent(senders);
  await Promise.all(Array.from({ length: senders }, () => post(r.url, agent, makeBody()))); // connections, not measured
  const out = await phase(r.pid, async () => {
    let events = 0;
    const deadline = performance.now() + ms;
    await Promise.all(
      Array.from({ length: senders }, async () => {
        while (performance.now() < deadline) {
          await post(r.url, agent, makeBody());
          events += BATCH;
        }
      }),
    );
    return { events };
  });
  agent.destroy();
  return out;
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

/**
 * The baseline: JSON.parse of the same bodies, nothing else, as strings already decoded (the
 * stricter figure, and the one ratios are against); also from the bytes (decode + parse), which is
 * what a receiver that parsed would have to do.
 */
function parseOnly(ms) {
  const bufs = Array.from({ length: 20 }, () => makeBody());
  const strs = bufs.map((b) => b.toString('utf8'));
  const rate = (f) => {
    let events = 0;
    const start = performance.now();
    while (performance.now() - start < ms) for (let i = 0; i < 20; i++) events += f(i);
    return events / ((performance.now() - start) / 1000);
  };
  return {
    strings: rate((i) => JSON.parse(strs[i]).items.length),
    bytes: rate((i) => JSON.parse(bufs[i].toString('utf8')).items.length),
  };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const eventBytes = Math.round((makeBody().length - 70) / BATCH);
console.log(
  `receiver benchmark: node ${process.version}, ${cpus().length} CPUs, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ` + `3 static-mode sinks, mutual TLS on loopback, ${BATCH}-event EventLists, ~${eventBytes} B/event`,
);

function throughputLine(label, p, baseline) {
  const rate = p.events / p.secs;
  const perCpu = p.events / p.receiverCpu;
  return (
    `${label} ${fmt(rate)} events/s   ${(rate / baseline).toFixed(2)} x parse-only   (target >= 100,000 and >= 0.35)\n` +
    `    receiver ${(p.receiverCpu / p.secs).toFixed(2)} CPU, ${fmt(perCpu)} events per receiver CPU-second (${(perCpu / baseline).toFixed(2)} x parse-only); ` +
    `senders ${(p.senderCpu / p.secs).toFixed(2)} CPU`
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The peers: audit-lab (fdatasync, the three sinks above) and each receiver written by hand get the
 * same 4-sender throughput phase, round after round in the same order, so a busy spell of the shared
 * machine falls on all of them; audit-lab's ratio to a peer is the median of the rounds' ratios.
 */
async function peers() {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `-- peers: the same 4-sender throughput phase (${PHASE_MS} ms), ${PEER_ROUNDS} interleaved rounds; load ${load()}`,
  );
  const pki = (f) => join(paths.pkiDir, PKI_FILES[f]);
  const serverTls = [pki('caCert'), pki('serverCert'), pki('serverKey')];
  const clientTls = { ca: lab.pki.ca.cert, cert: lab.pki.client.cert, key: lab.pki.client.key };
  const work = await mkdtemp(join(tmpdir(), 'audit-lab-bench-peers-'));
  try {
    const receivers = [];
    // Fresh streams: a receiver seeds its dedupe keys from the streams' last minutes (the RSS phase's).
    await rm(paths.streamsDir, { recursive: true, force: true });
    const al = await startServe();
    receivers.push({ label: 'audit-lab (fdatasync, 3 sinks)', r: al });
    const out = (n) => join(work, `${n}.jsonl`);
    const naive = await startPeer(
      'naive',
      (port) => [process.execPath, naivePeer, String(port), ...serverTls, out('naive')],
      clientTls,
    );
    receivers.push({ label: 'naive Node (parse, append, no sync)', r: naive, file: out('naive') });
    if (haveGo()) {
      const go = buildGoPeer(work);
      console.log(`go build of the Go peer: ${fmt(go.ms)} ms (Go's build cache: fast after the first run)`);
      const [ca, cert, key] = serverTls;
      for (const [name, label, flags] of [
        ['go-raw', 'Go stdlib, raw items, no sync', []],
        ['go-sync', 'Go stdlib, raw items, fdatasync', ['-sync']],
        ['go-decode', 'Go stdlib, every event decoded', ['-decode']],
      ]) {
        const argv = (port) => [
          go.path,
          '-addr',
          `127.0.0.1:${port}`,
          '-ca',
          ca,
          '-cert',
          cert,
          '-key',
          key,
          '-out',
          out(name),
          ...flags,
        ];
        receivers.push({ label, r: await startPeer(name, argv, clientTls), file: out(name) });
      }
    } else console.log('go not found: the Go peers are skipped');

    for (const x of receivers) x.rounds = [];
    for (let round = 0; round < PEER_ROUNDS; round++) {
      for (const x of receivers) {
        x.rounds.push(await throughput(x.r, 4, PHASE_MS));
        if (x.file) await truncate(x.file, 0); // keeps the peers' files small (a round writes hundreds of MB)
      }
    }

    const rate = (p) => p.events / p.secs;
    const [base] = receivers;
    const col = (s, w) => String(s).padStart(w);
    const labelW = Math.max(...receivers.map((x) => x.label.length));
    const roundsHead = base.rounds.map((_, i) => col(`round ${i + 1}`, 9)).join(' ');
    console.log(`${'receiver'.padEnd(labelW)}  ${roundsHead}  events/s (median)  per receiver CPU-s  audit-lab / it`);
    for (const x of receivers) {
      const ratios = x.rounds.map((p, i) => rate(base.rounds[i]) / rate(p));
      console.log(
        `${x.label.padEnd(labelW)}  ${x.rounds.map((p) => col(fmt(rate(p)), 9)).join(' ')}  ${col(fmt(median(x.rounds.map(rate))), 17)}  ` +
          `${col(fmt(median(x.rounds.map((p) => p.events / p.receiverCpu))), 18)}  ${col(x === base ? '1.00' : median(ratios).toFixed(2), 14)}`,
      );
    }
    console.log(
      `load at the end: ${load()} (audit-lab / it: the median of the rounds' ratios, each round's phases back to back)`,
    );
  } finally {
    await stopPeers();
    await stopReceiver(paths).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

try {
  const base = parseOnly(1500);
  const baseline = base.strings;
  console.log(
    `JSON.parse alone, same bodies:    ${fmt(baseline)} events/s (baseline, one core; ${fmt(base.bytes)} events/s decoding the bytes too)`,
  );

  const runs = {};
  let r;
  for (const sync of [true, false]) {
    const label = sync ? 'fdatasync' : 'no sync';
    r = await startServe({ sync });
    if (sync) console.log(`idle receiver RSS: ${procStatus(r.pid, 'VmRSS').toFixed(1)} MB`);
    console.log(
      `-- ${sync ? 'acknowledged after fdatasync (the real path)' : 'without fdatasync (serve --skip-fsync-for-benchmark, for comparison only)'}`,
    );
    const one = await throughput(r, 1, PHASE_MS);
    console.log(throughputLine(`throughput, 1 sender  (${label}):`, one, baseline));
    const four = await throughput(r, 4, PHASE_MS);
    console.log(throughputLine(`throughput, 4 senders (${label}):`, four, baseline));
    const lat = {};
    for (const batch of [400, 50]) {
      const l = (lat[batch] = await latency(r.url, 4000, batch, PHASE_MS));
      console.log(
        `ack latency at 4,000 events/s, ${String(batch).padStart(3)}-event batches (${label}): p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(2)} ms (${l.n} batches; target p99 < 20 ms)`,
      );
    }
    runs[label] = { one, four, lat };
    await r.stop();
  }
  const rate = (p) => p.events / p.secs;
  const [a, b] = [runs.fdatasync, runs['no sync']];
  console.log(
    `fdatasync / no sync: throughput ${(rate(a.one) / rate(b.one)).toFixed(2)} (1 sender), ${(rate(a.four) / rate(b.four)).toFixed(2)} (4 senders); ` +
      `p99 ack latency ${(a.lat[400].p99 / b.lat[400].p99).toFixed(2)} x (400-event), ${(a.lat[50].p99 / b.lat[50].p99).toFixed(2)} x (50-event)`,
  );

  // A fresh receiver and empty streams, so its peak RSS covers this phase only (a receiver seeds
  // its dedupe keys from the streams' last 6 minutes, which hold the phases above).
  await rm(paths.streamsDir, { recursive: true, force: true });
  r = await startServe();
  const agent = makeAgent(4);
  let sent = 0;
  const p = await phase(r.pid, async () => {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (sent < RSS_EVENTS) {
          sent += BATCH;
          await post(r.url, agent, makeBody());
        }
      }),
    );
    return {};
  });
  agent.destroy();
  const peak = procStatus(r.pid, 'VmHWM');
  await r.stop();
  console.log(
    `peak RSS over ${fmt(sent)} events: ${peak.toFixed(1)} MB (VmHWM of the receiver process; target < 150 MB), at ${fmt(sent / p.secs)} events/s, ` +
      `${fmt(sent / p.receiverCpu)} per receiver CPU-second`,
  );

  if (PEERS) await peers();
} finally {
  await stopPeers().catch(() => {});
  await stopReceiver(paths).catch(() => {});
  if (!process.env.BENCH_KEEP) await rm(home, { recursive: true, force: true });
  else console.log(home);
}
