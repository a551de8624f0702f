/**
 * What the real-cluster suite (test/kind/run.mjs) and the live-loop benchmark
 * (test/bench/capture.mjs) share: running programs, the machine's kind and images, a lab driven
 * through its own commands, a following `tail` read as it arrives, and the loop's latency.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'audit-lab.js');
export const CI = Boolean(process.env.CI);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

export class Failure extends Error {}
export function check(cond, message) {
  if (!cond) throw new Failure(message);
}

/** Runs a program and keeps its output. */
export function capture(file, args, opts = {}) {
  return new Promise((done) => {
    execFile(file, args, { maxBuffer: 256 * 1024 * 1024, ...opts }, (error, stdout, stderr) => {
      done({
        code: error ? (typeof error.code === 'number' ? error.code : 127) : 0,
        stdout,
        stderr,
        missing: error?.code === 'ENOENT',
      });
    });
  });
}

/** Runs a program with its output shown as it comes, as a user would see it. */
export function show(label, file, args, env) {
  process.stdout.write(`\n$ ${label}\n`);
  return new Promise((done) => {
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.on('exit', (code) => done(code ?? 1));
    child.on('error', () => done(127));
  });
}

export function freePort() {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => done(port));
    });
  });
}

/** Polls `probe` until it returns something other than null/false, or fails after `ms`. */
export async function waitFor(what, ms, probe, everyMs = 2000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last !== null && last !== false && last !== undefined) return last;
    if (Date.now() >= deadline) throw new Failure(`${what}: not seen within ${secs(ms)}`);
    await sleep(everyMs);
  }
}

export const timings = [];
export async function step(label, fn) {
  const start = Date.now();
  console.log(`\n::: ${label}`);
  try {
    return await fn();
  } finally {
    const ms = Date.now() - start;
    timings.push([label, ms]);
    console.log(`::: ${label}: ${secs(ms)}`);
  }
}

// ---------------------------------------------------------------------------------- machine

export function notRun(why) {
  if (CI) {
    console.error(`test:kind FAILED: ${why}. With CI=true the real-cluster suite must run.`);
    process.exit(1);
  }
  console.log(`test:kind did not run: ${why}`);
  console.log(
    'it needs a running Docker daemon, kind and kubectl (see `audit-lab doctor`), or AUDIT_LAB_E2E_OFFLINE=1 on a machine with ../shared/kind-offline.',
  );
  process.exit(0);
}

/** Settings from test/kind/offline.sh (KEY=VALUE lines), which builds or reuses everything. */
export async function offlineSettings() {
  console.log('::: kind-offline: building or reusing the Docker engine, kind and node images (test/kind/offline.sh)');
  const start = Date.now();
  const out = await new Promise((done, fail) => {
    const child = spawn('bash', [join(ROOT, 'test', 'kind', 'offline.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('exit', (code) =>
      code === 0 ? done(text) : fail(new Failure(`test/kind/offline.sh failed (exit ${code}): see its output above`)),
    );
  });
  console.log(`::: kind-offline: ready in ${secs(Date.now() - start)}`);
  const settings = {};
  for (const line of out.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) settings[m[1]] = m[2];
  }
  return settings;
}

/** A directory holding `kind` and `kubectl` links, put first on PATH for one mode. */
export async function toolDir(base, tools) {
  await mkdir(base, { recursive: true });
  for (const [name, target] of Object.entries(tools)) if (target) await symlink(target, join(base, name));
  return base;
}

// ---------------------------------------------------------------------------------- a lab

export class Lab {
  constructor({ mode, name, home, env, image, context }) {
    this.mode = mode;
    this.name = name;
    this.home = home;
    this.env = env;
    this.image = image;
    this.context = context ?? `kind-${name}`;
  }

  get dir() {
    return join(this.home, this.name);
  }

  /** audit-lab with the lab's name, output kept; exit code checked unless `allow` lists it. */
  async al(args, { allow = [0], quiet = false } = {}) {
    const r = await capture(process.execPath, [BIN, ...args, '--name', this.name], { env: this.env });
    if (!quiet) {
      console.log(`$ audit-lab ${args.join(' ')}  (exit ${r.code})`);
      const text = `${r.stdout}${r.stderr}`.trimEnd();
      if (text)
        console.log(
          text
            .split('\n')
            .slice(0, 40)
            .map((l) => `  ${l}`)
            .join('\n'),
        );
    }
    check(allow.includes(r.code), `audit-lab ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** audit-lab with its output shown live (long steps: up). */
  async alLive(args) {
    const code = await show(
      `audit-lab ${args.join(' ')} --name ${this.name}`,
      process.execPath,
      [BIN, ...args, '--name', this.name],
      this.env,
    );
    check(code === 0, `audit-lab ${args.join(' ')} exited ${code}`);
  }

  async kubectl(args, { allow = [0], quiet = false } = {}) {
    const r = await capture('kubectl', ['--context', this.context, ...args], { env: this.env });
    if (!quiet || r.code !== 0)
      console.log(
        `$ kubectl ${args.join(' ')}  (exit ${r.code})${r.code !== 0 ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`,
      );
    check(allow.includes(r.code), `kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r;
  }

  /** Every event a sink holds, as `tail --no-follow -o jsonl` prints it. */
  async events(sink) {
    const r = await this.al(['tail', '--no-follow', '-o', 'jsonl', '--sink', sink], { quiet: true });
    check(r.code === 0, `tail --sink ${sink} exited ${r.code}: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
  }

  async status() {
    return JSON.parse((await this.al(['status', '--json'], { quiet: true })).stdout);
  }

  async sinkNames() {
    return JSON.parse((await this.al(['sink', 'list', '--json'], { quiet: true })).stdout)
      .items.map((s) => s.name)
      .sort();
  }
}

export async function apiClient(lab) {
  const kc = parseYaml(await readFile(lab.env.KUBECONFIG, 'utf8'));
  const ctx = kc.contexts.find((c) => c.name === lab.context).context;
  const cluster = kc.clusters.find((c) => c.name === ctx.cluster).cluster;
  const user = kc.users.find((u) => u.name === ctx.user).user;
  const b64 = (s) => Buffer.from(s, 'base64');
  const url = new URL(cluster.server);
  return (method, path, body) =>
    new Promise((done) => {
      const req = httpsRequest(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          ca: b64(cluster['certificate-authority-data']),
          cert: b64(user['client-certificate-data']),
          key: b64(user['client-key-data']),
          headers: { 'content-type': 'application/json' },
          timeout: 10_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode));
        },
      );
      req.on('error', () => done(0));
      req.on('timeout', () => req.destroy());
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/**
 * The kube-apiserver process on the lab's node: its pid and its /proc/PID/stat line. A restart
 * makes a new process (the static pod's status can lag behind it for many seconds).
 */
export async function apiServerProcess(lab) {
  const node = `${lab.name}-control-plane`;
  const pid = (
    await capture('docker', ['exec', node, 'pgrep', '-x', 'kube-apiserver'], { env: lab.env })
  ).stdout.trim();
  check(/^\d+$/.test(pid), `no single kube-apiserver process in ${node}: ${JSON.stringify(pid)}`);
  const stat = await capture('docker', ['exec', node, 'cat', `/proc/${pid}/stat`], { env: lab.env });
  check(stat.code === 0, `could not read kube-apiserver's /proc/${pid}/stat: ${stat.stderr}`);
  return { pid, stat: stat.stdout };
}

/** Which kube-apiserver process runs now: its pid and start time (clock ticks after boot). */
export async function apiServerStarted(lab) {
  const { pid, stat } = await apiServerProcess(lab);
  // The command name may hold spaces and parentheses: the fields after its last ')' are fixed.
  return `pid ${pid} at tick ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
}

/**
 * `audit-lab tail -f -o jsonl` on one sink, read as it arrives (not polled). `key(e)` names the
 * events worth keeping (null: not one of them); the first copy of each is kept with the moment its
 * line came. `tailArgs` go to tail (e.g. --tail 0: only what is stored from now on).
 */
export function followTail(lab, sink, key, tailArgs = []) {
  const tail = spawn(
    process.execPath,
    [BIN, 'tail', '-f', '-o', 'jsonl', ...tailArgs, '--sink', sink, '--name', lab.name],
    { env: lab.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const arrived = new Map();
  let waiting = null;
  let rest = '';
  let stderr = '';
  tail.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  tail.stdout.setEncoding('utf8').on('data', (d) => {
    const now = performance.now();
    rest += d;
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      const k = key(e);
      if (k !== null && !arrived.has(k)) arrived.set(k, { at: now, event: e });
    }
    waiting?.();
  });
  /** Whether tail printed every one of `keys` within `ms`. */
  const printed = async (keys, ms) => {
    const deadline = Date.now() + ms;
    while (!keys.every((k) => arrived.has(k))) {
      check(tail.exitCode === null, `tail --sink ${sink} exited ${tail.exitCode}: ${stderr}`);
      if (Date.now() >= deadline) return false;
      await Promise.race([new Promise((r) => (waiting = r)), sleep(250)]);
    }
    return true;
  };
  return {
    arrived,
    printed,
    async until(keys, ms) {
      check(
        await printed(keys, ms),
        `tail --sink ${sink} did not print ${keys.filter((k) => !arrived.has(k)).join(', ')} within ${secs(ms)}: ${stderr}`,
      );
    },
    stop: () => tail.kill('SIGINT'),
  };
}

/**
 * The lab's loop, measured as a user feels it: from kubectl's return to the moment a following
 * `tail -o jsonl` prints the event. Requests go one after the other, a little apart as a person
 * types (`spacingMs` on average); each is timed on its own. Returns p50, p99 and max in ms.
 */
export async function measureLatency(lab, ns, { count, spacingMs, waitMs, prefix = 'lat' }) {
  const created = (e) =>
    e.verb === 'create' && e.objectRef?.namespace === ns && typeof e.objectRef?.name === 'string'
      ? e.objectRef.name
      : null;
  const tail = followTail(lab, 'default', created, ['--tail', '0']);
  try {
    // With --tail 0 an event stored before tail opened the stream is not printed: requests are
    // made until one is, so the tail is reading before anything is timed.
    const warmupUntil = Date.now() + waitMs;
    for (let w = 0; ; w++) {
      await lab.kubectl(['create', 'configmap', `${prefix}-warmup-${w}`, '-n', ns], { quiet: true });
      // Any warm-up printed means the tail was reading when it was stored (dynamic mode sends late).
      if (
        (await tail.printed([`${prefix}-warmup-${w}`], 3000)) ||
        [...tail.arrived.keys()].some((n) => n.startsWith(`${prefix}-warmup-`))
      )
        break;
      check(Date.now() < warmupUntil, `tail printed none of ${w + 1} warm-up requests within ${secs(waitMs)}`);
    }
    const returned = new Map();
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i}`;
      await lab.kubectl(['create', 'configmap', name, '-n', ns], { quiet: true });
      returned.set(name, performance.now());
      await sleep(spacingMs * (0.5 + Math.random()));
    }
    await tail.until([...returned.keys()], waitMs);
    const ms = [...returned].map(([name, at]) => Math.max(0, tail.arrived.get(name).at - at)).sort((a, b) => a - b);
    const q = (p) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)];
    return { p50: Math.round(q(0.5)), p99: Math.round(q(0.99)), max: Math.round(ms.at(-1)), n: ms.length };
  } finally {
    tail.stop();
  }
}

/**
 * Creates `count` config maps in `ns` straight through the API (`parallel` at a time, as a
 * controller or a script would): a burst, far faster than kubectl processes. Returns how many the
 * API server accepted.
 */
export async function burst(lab, ns, { count, parallel = 8, prefix = 'burst' }) {
  const api = await apiClient(lab);
  let next = 0;
  let accepted = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const code = await api('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `${prefix}-${i}` },
        data: { i: String(i) },
      });
      if (code === 201) accepted++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return accepted;
}

// ---------------------------------------------------------------------------------- events in a sink

/** Does event `e` record request `r` ({verb, resource, namespace?, name?, code?})? */
export function isRequest(e, r) {
  const o = e.objectRef ?? {};
  return (
    e.verb === r.verb &&
    o.resource === r.resource &&
    (r.namespace === undefined || o.namespace === r.namespace) &&
    (r.name === undefined || o.name === r.name) &&
    (r.code === undefined || e.responseStatus?.code === r.code)
  );
}

export const describe = (r) =>
  `${r.verb} ${r.resource}${r.namespace ? ` -n ${r.namespace}` : ''}${r.name ? ` ${r.name}` : ''}`;

/** A sink's events grouped by request (auditID), in stream order. */
function byRequest(evs) {
  const groups = new Map();
  for (const e of evs) {
    if (!groups.has(e.auditID)) groups.set(e.auditID, []);
    groups.get(e.auditID).push(e);
  }
  return [...groups.values()];
}

/** The event that knows most about its request: at RequestReceived a create has no name yet. */
const finalOf = (g) => g.find((e) => e.stage === 'ResponseComplete') ?? g[g.length - 1];

/**
 * Waits until `sink` holds every request (matched on its final event) with every stage in
 * `stages`, then checks each of its events as an AuditSink of `level` would have received it:
 * that level, no other stage, and bodies exactly where the level puts them.
 */
export async function expectInSink(lab, sink, level, stages, requests, ms, allowed = stages) {
  const matching = (groups, r) => groups.filter((g) => isRequest(finalOf(g), r));
  const found = await waitFor(`${sink} sink: ${requests.map(describe).join(', ')}`, ms, async () => {
    const evs = await lab.events(sink);
    const groups = byRequest(evs);
    const all = requests.every((r) =>
      matching(groups, r).some((g) => stages.every((st) => g.some((e) => e.stage === st))),
    );
    return all ? evs : null;
  });
  const seen = new Set();
  for (const e of found) {
    check(
      allowed.includes(e.stage),
      `${sink} sink holds stage ${e.stage} (${describe(e)}) but takes only ${allowed.join(',')}`,
    );
    // Stored once: the API server's retries and the receiver's restarts never store an event twice.
    const key = `${e.auditID}/${e.stage}`;
    check(!seen.has(key), `${sink} sink stores ${key} (${describe(e)}) twice`);
    seen.add(key);
  }
  const groups = byRequest(found);
  for (const r of requests) {
    // kubectl may make a request more than once (a delete's wait GETs the object): each is checked.
    for (const g of matching(groups, r)) {
      for (const e of g) {
        const what = `${sink} sink: ${describe(r)} at ${e.stage}`;
        check(e.level === level, `${what}: level ${e.level}, want ${level}`);
        check(
          e.kind === 'Event' && e.apiVersion === 'audit.k8s.io/v1',
          `${what}: not an audit.k8s.io/v1 Event: ${e.kind} ${e.apiVersion}`,
        );
        if (level === 'Metadata') {
          check(!('requestObject' in e) && !('responseObject' in e), `${what}: a body at level Metadata`);
        } else if (e.stage === 'RequestReceived') {
          check(!('responseObject' in e), `${what}: a responseObject before there was a response`);
        } else if (e.stage === 'ResponseComplete') {
          const hasBody = r.verb === 'create' || r.verb === 'patch';
          check(
            'requestObject' in e === hasBody,
            `${what}: requestObject ${'requestObject' in e ? 'present' : 'absent'} at level ${level}`,
          );
          const wantResponse = level === 'RequestResponse' && r.verb !== 'watch';
          check(
            'responseObject' in e === wantResponse,
            `${what}: responseObject ${'responseObject' in e ? 'present' : 'absent'} at level ${level}`,
          );
        }
      }
    }
  }
  console.log(
    `  ${sink}: ${requests.length} requests x ${stages.join('+')} at ${level}; no (auditID, stage) stored twice among the sink's ${found.length} events`,
  );
  return found;
}

// ---------------------------------------------------------------------------------- the end of a suite

/** A mode that failed: its error among `failures`, then the lab's status and the end of its logs. */
export async function reportFailure(lab, err, failures, logs) {
  failures.push(`${lab.mode}: ${err instanceof Failure ? err.message : err.stack}`);
  console.error(`\n${lab.mode} mode FAILED: ${err.message}`);
  const st = await capture(process.execPath, [BIN, 'status', '--name', lab.name], { env: lab.env });
  console.error(st.stdout + st.stderr);
  for (const log of logs) {
    const r = await capture('tail', ['-n', '30', join(lab.dir, log)]);
    console.error(`${log}:\n${r.stdout}`);
  }
}

/**
 * Each step's time, then `<suite>: N passed, N failed`: with failures, each of them and exit 1;
 * else what passed (the caller prints its figures and the last line).
 */
export function reportSteps(suite, started, failures, ran) {
  console.log('\nstep times:');
  const width = Math.max(...timings.map(([l]) => l.length));
  for (const [l, ms] of timings) console.log(`  ${l.padEnd(width)}  ${secs(ms).padStart(7)}`);
  console.log(`  ${'total'.padEnd(width)}  ${secs(Date.now() - started).padStart(7)}`);
  if (failures.length > 0) {
    console.error(`\ntest:${suite} FAILED:\n${failures.map((f) => `  ${f}`).join('\n')}`);
    console.log(`${suite}: ${ran.length} passed, ${failures.length} failed`);
    process.exit(1);
  }
  for (const r of ran) console.log(`passed: ${r}`);
}

/** After `up` again: a namespace made now reaches the default sink, beside the events from before (`before`). */
export async function newEventsKeepOld(lab, ns, wait, before) {
  await lab.kubectl(['create', 'namespace', ns]);
  const evs = await expectInSink(
    lab,
    'default',
    'Metadata',
    ['ResponseComplete'],
    [{ verb: 'create', resource: 'namespaces', name: ns }],
    wait,
  );
  check(evs.length > before.length, 'the events from before down are gone');
}

/** `up` after `down`, timed (lab.upTimes.afterDown): the lab comes back with the sinks `sinksAfter`. */
export async function upAfterDown(lab, sinksAfter) {
  const started = performance.now();
  await lab.alLive(['up']);
  lab.upTimes.afterDown = performance.now() - started;
  const sinks = await lab.sinkNames();
  check(JSON.stringify(sinks) === JSON.stringify(sinksAfter), `sinks after up: ${sinks}, want ${sinksAfter}`);
}
