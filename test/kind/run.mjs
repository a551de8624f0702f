#!/usr/bin/env node
/**
 * audit-lab on real kind clusters, end to end through its own commands, in both modes, each on a
 * cluster of its own: up (twice, timed), doctor, status, kubectl requests found in `tail` with each
 * sink's level and stages applied, the loop's latency, a second lab side by side with the narrow
 * capture (static: a wider sink restarts its API server), sink create timed to its first event
 * (static: no restart on a new lab), sink delete, a policy
 * sink and forwarding (static), `top`, `policy suggest` and the suggested policy as a sink (static),
 * the receiver killed under steady traffic (static), down, up again, down --purge.
 *
 * Which kind and images:
 *   default                   the `kind` and `kubectl` on PATH, kind's default image (static) and
 *                             audit-lab's default 1.18 image (dynamic, needs kind v0.11.1 and cgroup v1)
 *   AUDIT_LAB_E2E_OFFLINE=1   (the default with CI=true) build or reuse kind and node images with
 *                             ../shared/kind-offline (test/kind/offline.sh): no registry needed
 *   AUDIT_LAB_E2E_{STATIC,DYNAMIC}_{KIND,KUBECTL,IMAGE}   a kind binary, kubectl binary or node image per mode
 *   AUDIT_LAB_E2E_MODE=static|dynamic|both (default both)
 *   AUDIT_LAB_E2E_KEEP=1      leave clusters and labs behind for a look
 *
 * Without CI, a machine with no Docker engine (or no kind) says the suite did not run and exits 0;
 * with CI=true that is a failure: CI must never count a suite that did not run as passed.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  apiClient,
  apiServerStarted,
  BIN,
  CI,
  capture,
  check,
  followTail,
  freePort,
  Lab,
  measureLatency,
  notRun,
  offlineSettings,
  ROOT,
  secs,
  sleep,
  step,
  toolDir,
  waitFor,
  reportFailure,
  reportSteps,
  describe,
  expectInSink,
  newEventsKeepOld,
  upAfterDown,
  isRequest,
} from './lab.mjs';

// ---------------------------------------------------------------------------------- forwarding endpoint

/** An HTTPS endpoint with its own CA, as a SIEM would be: records each POST and when it came. */
async function forwardEndpoint(home) {
  const { createCa, issueServerCert } = await import(join(ROOT, 'dist', 'lab', 'pkiIssuer.js'));
  const ca = await createCa('e2e-forward-endpoint');
  const leaf = await issueServerCert(ca, ['127.0.0.1']);
  const caFile = join(home, 'forward-ca.crt');
  await writeFile(caFile, ca.cert);
  const posts = [];
  // Every answer, for the failure message: when, and what.
  const answers = [];
  const endpoint = { caFile, posts, answers, refuseUntil: 0 };
  const server = createHttpsServer({ key: leaf.key, cert: leaf.cert }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (Date.now() < endpoint.refuseUntil) {
        answers.push({ at: Date.now(), code: 503 });
        res.writeHead(503).end();
        return;
      }
      try {
        posts.push({ at: Date.now(), path: req.url, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        answers.push({ at: Date.now(), code: 200 });
        res.writeHead(200).end();
      } catch {
        answers.push({ at: Date.now(), code: 400 });
        res.writeHead(400).end();
      }
    });
  });
  // Idle keep-alive connections stay open for the whole test, so the forwarder never races a
  // close of the connection it is about to reuse (the server's default closes them after 5 s).
  server.keepAliveTimeout = 120_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(endpoint, {
    url: `https://127.0.0.1:${server.address().port}/k8s-audit`,
    close: () => server.close(),
  });
}

// ---------------------------------------------------------------------------------- steady traffic for the fault test
/**
 * Creates config maps at a steady rate for `seconds`; the receiver is SIGKILLed after `killAt`
 * seconds and brought back by `audit-lab up` after `restartAt`. Every create the API server
 * accepted must then be in the sink exactly once.
 */
async function faults(lab, ns, { rate = 20, seconds = 15, killAt = 4, restartAt = 9 } = {}) {
  const api = await apiClient(lab);
  const accepted = [];
  let failedRequests = 0;
  const start = Date.now();
  const sends = [];
  let killedAt = null;
  let back = null;
  const chaos = (async () => {
    await sleep(killAt * 1000);
    const st = await lab.status();
    check(st.receiver.running && st.receiver.pid, 'the receiver is not running before the fault');
    process.kill(st.receiver.pid, 'SIGKILL');
    killedAt = Date.now();
    console.log(`  receiver (pid ${st.receiver.pid}) killed with SIGKILL at ${secs(killedAt - start)}`);
    await sleep(Math.max(0, start + restartAt * 1000 - Date.now()));
    await lab.al(['up']);
    back = Date.now();
    console.log(`  receiver back (audit-lab up) at ${secs(back - start)}`);
  })();
  for (let i = 0; i < rate * seconds; i++) {
    const due = start + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    const name = `fault-${i}`;
    sends.push(
      api('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
        data: { i: String(i) },
      }).then((code) => {
        if (code === 201) accepted.push(name);
        else failedRequests++;
      }),
    );
  }
  await Promise.all(sends);
  await chaos;
  const lastSent = Date.now();
  const want = new Set(accepted);
  let delivered = 0;
  const evs = await waitFor(
    `all ${want.size} accepted creates delivered to the default sink`,
    300_000,
    async () => {
      const all = (await lab.events('default')).filter(
        (e) => e.verb === 'create' && e.objectRef?.namespace === ns && e.objectRef?.name?.startsWith('fault-'),
      );
      delivered = new Set(all.map((e) => e.objectRef.name)).size;
      return [...want].every((n) => all.some((e) => e.objectRef.name === n)) ? all : null;
    },
    3000,
  );
  const counts = new Map();
  for (const e of evs) counts.set(e.objectRef.name, (counts.get(e.objectRef.name) ?? 0) + 1);
  const dup = [...counts.values()].filter((c) => c > 1).length;
  const lost = [...want].filter((n) => !counts.has(n)).length;
  console.log(
    `  faults: sent ${want.size} (accepted by the API server; ${failedRequests} refused or failed), delivered ${delivered}, lost ${lost}, stored twice ${dup}; ` +
      `receiver down ${secs(back - killedAt)}; all delivered ${secs(Date.now() - lastSent)} after the last request`,
  );
  check(lost === 0 && dup === 0, `faults: lost ${lost}, duplicated ${dup}`);
  check(
    want.size >= rate * seconds * 0.9,
    `faults: only ${want.size} of ${rate * seconds} creates were accepted by the API server`,
  );
}

// ---------------------------------------------------------------------------------- the flows

async function basics(lab) {
  let started = performance.now();
  await step(`${lab.mode}: up`, () =>
    lab.alLive([
      'up',
      '--mode',
      lab.mode,
      '--port',
      String(lab.port),
      '--verbose',
      ...(lab.image ? ['--image', lab.image] : []),
    ]),
  );
  lab.upTimes = { first: performance.now() - started };
  await step(`${lab.mode}: up again changes nothing`, async () => {
    started = performance.now();
    const r = await lab.al(['up']);
    lab.upTimes.second = performance.now() - started;
    check(r.stdout.includes('is up already; nothing to change'), 'a second up did not say "nothing to change"');
  });
  await step(`${lab.mode}: doctor`, () => lab.al(['doctor']));
  const st = await step(`${lab.mode}: status --json`, async () => {
    const s = await lab.status();
    console.log(`  ${JSON.stringify({ mode: s.mode, cluster: s.cluster, receiver: s.receiver })}`);
    check(s.mode === lab.mode, `status says mode ${s.mode}`);
    check(s.cluster.exists && s.cluster.running && s.cluster.ready, 'status: the cluster is not up and ready');
    check(s.receiver.running && s.receiver.healthy, 'status: the receiver is not running and healthy');
    check(s.problems.length === 0, `status reports problems: ${s.problems.join('; ')}`);
    return s;
  });
  lab.kubernetesVersion = st.cluster.kubernetesVersion;
}

/** Requests every sink takes, and what they look like in the default sink (Metadata, ResponseComplete). */
async function requests(lab, ns, wait) {
  return step(`${lab.mode}: kubectl requests in the default sink`, async () => {
    const first = Date.now();
    await lab.kubectl(['create', 'namespace', ns]);
    await lab.kubectl(['create', 'configmap', 'cm1', '-n', ns, '--from-literal=a=1']);
    await lab.kubectl(['get', 'configmap', 'cm1', '-n', ns, '-o', 'name']);
    await lab.kubectl(['patch', 'configmap', 'cm1', '-n', ns, '--type', 'merge', '-p', '{"data":{"b":"2"}}']);
    const denied = await lab.kubectl(['get', 'secrets', '-n', ns, '--as', 'audit-lab-e2e-nobody'], { allow: [1] });
    check(/forbidden/i.test(denied.stderr), `impersonated request was not forbidden: ${denied.stderr}`);
    await lab.kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/configmaps?watch=1&timeoutSeconds=2`]);
    // --wait=false: kubectl's wait for the deletion would add GETs of cm1 of its own.
    await lab.kubectl(['delete', 'configmap', 'cm1', '-n', ns, '--wait=false']);
    const last = Date.now();
    const reqs = [
      { verb: 'create', resource: 'namespaces', name: ns },
      { verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm1' },
      { verb: 'get', resource: 'configmaps', namespace: ns, name: 'cm1' },
      { verb: 'patch', resource: 'configmaps', namespace: ns, name: 'cm1' },
      { verb: 'list', resource: 'secrets', namespace: ns, code: 403 },
      { verb: 'watch', resource: 'configmaps', namespace: ns },
      { verb: 'delete', resource: 'configmaps', namespace: ns, name: 'cm1' },
    ];
    const evs = await expectInSink(lab, 'default', 'Metadata', ['ResponseComplete'], reqs, wait);
    // Polled every 2 s, so each figure is an upper bound.
    console.log(
      `  ${lab.mode} delivery: all ${reqs.length} requests in tail ${secs(Date.now() - last)} after the last and ${secs(Date.now() - first)} after the first was made`,
    );
    const denial = evs.find((e) => isRequest(e, reqs[4]));
    check(
      denial.impersonatedUser?.username === 'audit-lab-e2e-nobody',
      `the 403 event names impersonated user ${JSON.stringify(denial.impersonatedUser)}`,
    );
  });
}

/**
 * The lab's loop, as `measureLatency` times it. Prints
 * `<mode> latency: p50 N ms, p99 N ms, max N ms (N requests)` with the versions. Nothing is
 * asserted on the figures: they are the API server's batching, measured.
 */
async function latency(lab, ns, { count, spacingMs, waitMs }) {
  return step(`${lab.mode}: latency, kubectl -> a following tail (${count} requests)`, async () => {
    const figures = await measureLatency(lab, ns, { count, spacingMs, waitMs });
    console.log(
      `  ${lab.mode} latency: p50 ${figures.p50} ms, p99 ${figures.p99} ms, max ${figures.max} ms (${figures.n} requests), Kubernetes ${lab.kubernetesVersion}, ${lab.kindVersion}`,
    );
    lab.latency = figures;
    return figures;
  });
}

/**
 * `sink create NAME ARGS`, timed from the moment it is asked to the first event stored at `level`
 * in the new sink, read by a following tail as it arrives (config maps are created every
 * `spacingMs` until one shows); and whether the API server restarted (its container's start time).
 */
async function timedSinkCreate(lab, ns, sink, level, args, { waitMs, spacingMs }) {
  const before = await apiServerStarted(lab);
  const asked = performance.now();
  const r = await lab.al(['sink', 'create', sink, '--level', level, ...args]);
  const prefix = `${sink}-effect-`;
  const key = (e) =>
    e.level === level && e.verb === 'create' && e.objectRef?.namespace === ns && e.objectRef?.name?.startsWith(prefix)
      ? e.objectRef.name
      : null;
  const tail = followTail(lab, sink, key);
  try {
    const deadline = Date.now() + waitMs;
    for (let i = 0; tail.arrived.size === 0; i++) {
      check(Date.now() < deadline, `no event at ${level} in sink ${sink} within ${secs(waitMs)} of sink create`);
      await lab.kubectl(['create', 'configmap', `${prefix}${i}`, '-n', ns], { quiet: true });
      await tail.printed([`${prefix}${i}`], spacingMs);
    }
  } finally {
    tail.stop();
  }
  const ms = Math.min(...[...tail.arrived.values()].map((a) => a.at)) - asked;
  const after = await apiServerStarted(lab);
  const restarted = before !== after;
  console.log(
    `  ${lab.name} sink create ${sink}: first event at ${level} stored ${secs(ms)} after sink create was asked; kube-apiserver restarted: ${restarted ? 'yes' : 'no'} (started ${before}, now ${after})`,
  );
  return { ms, restarted, said: `${r.stdout}${r.stderr}` };
}

/**
 * The lab's second loop: change what a sink records and see it at once. A new static lab captures
 * everything, so a sink of any level and stages takes effect with no API server restart.
 */
async function loopSink(lab, ns, wait) {
  await step(
    'static: sink create loop (RequestResponse, ResponseStarted+ResponseComplete) on a new lab, timed',
    async () => {
      const c = await timedSinkCreate(
        lab,
        ns,
        'loop',
        'RequestResponse',
        ['--stage', 'ResponseStarted', '--stage', 'ResponseComplete'],
        { waitMs: wait, spacingMs: 200 },
      );
      check(
        !c.restarted && !/restart/i.test(c.said),
        `a new lab captures everything: sink create must not restart the API server (restarted: ${c.restarted}):\n${c.said}`,
      );
      lab.sinkCreate = c;
      await lab.al(['sink', 'delete', 'loop']);
    },
  );
}

/** A RequestResponse sink with two stages; the default sink keeps getting Metadata only. */
async function fullSink(lab, ns, wait) {
  await step(`${lab.mode}: sink create full (RequestResponse), timed`, async () => {
    const c = await timedSinkCreate(
      lab,
      ns,
      'full',
      'RequestResponse',
      ['--stage', 'RequestReceived', '--stage', 'ResponseComplete'],
      { waitMs: wait, spacingMs: lab.mode === 'static' ? 200 : 1000 },
    );
    check(!c.restarted, `${lab.mode}: sink create full restarted the API server:\n${c.said}`);
    if (lab.mode === 'dynamic') {
      const sinks = await lab.kubectl(['get', 'auditsinks', '-o', 'name']);
      check(
        sinks.stdout.includes('auditsink.auditregistration.k8s.io/full'),
        `dynamic: no AuditSink "full" in the cluster: ${sinks.stdout}`,
      );
      lab.sinkCreate = c;
    }
  });
  await step(`${lab.mode}: a request in both sinks, each at its level`, async () => {
    await lab.kubectl(['create', 'configmap', 'cm2', '-n', ns, '--from-literal=k=v']);
    const req = [{ verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm2' }];
    await expectInSink(lab, 'full', 'RequestResponse', ['RequestReceived', 'ResponseComplete'], req, wait);
    await expectInSink(lab, 'default', 'Metadata', ['ResponseComplete'], req, wait);
  });
}

async function policySink(lab, ns, wait) {
  await step('static: sink create rec --policy preset:recommended', async () => {
    await lab.al(['sink', 'create', 'rec', '--policy', 'preset:recommended']);
    await lab.kubectl(['create', 'configmap', 'cm3', '-n', ns, '--from-literal=k=v']);
    await lab.kubectl(['get', '--raw', '/healthz']);
    await lab.kubectl(['create', 'serviceaccount', 'sa3', '-n', ns]);
    // configmaps: Metadata whatever the verb; other writes: Request; RequestReceived omitted (a
    // watch's ResponseStarted is kept).
    const allowed = ['ResponseStarted', 'ResponseComplete', 'Panic'];
    await expectInSink(
      lab,
      'rec',
      'Metadata',
      ['ResponseComplete'],
      [{ verb: 'create', resource: 'configmaps', namespace: ns, name: 'cm3' }],
      wait,
      allowed,
    );
    const evs = await expectInSink(
      lab,
      'rec',
      'Request',
      ['ResponseComplete'],
      [{ verb: 'create', resource: 'serviceaccounts', namespace: ns, name: 'sa3' }],
      wait,
      allowed,
    );
    check(
      !evs.some((e) => e.requestURI?.startsWith('/healthz')),
      'rec sink holds a /healthz event, which the recommended preset drops',
    );
    check(
      !evs.some((e) => e.stage === 'RequestReceived'),
      'rec sink holds RequestReceived, which the recommended preset omits',
    );
    const dflt = await lab.events('default');
    check(
      dflt.some((e) => e.requestURI?.startsWith('/healthz')),
      'the default sink (Metadata, everything) has no /healthz event',
    );
  });
  await step('static: sink delete rec', async () => {
    await lab.al(['sink', 'delete', 'rec']);
    check(!(await lab.sinkNames()).includes('rec'), 'sink list still shows rec');
  });
}

async function forwarding(lab, ns, endpoint, wait) {
  await step('static: forwarding (--url) to an HTTPS endpoint, throttled', async () => {
    await lab.al([
      'sink',
      'create',
      'fwd',
      '--level',
      'Metadata',
      '--stage',
      'ResponseComplete',
      '--url',
      endpoint.url,
      '--qps',
      '1',
      '--burst',
      '1',
    ]);
    // The endpoint refuses for a while, so a backlog of more than one batch (400 events) builds up
    // in the forwarder (1,000 creates: three batches of up to 400); once it answers, that backlog must
    // leave at most one batch a second.
    endpoint.refuseUntil = Date.now() + 8000;
    const api = await apiClient(lab);
    const names = Array.from({ length: 1000 }, (_, i) => `fwd-${i}`);
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map((n) =>
          api('POST', `/api/v1/namespaces/${ns}/configmaps`, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: n },
          }),
        ),
      );
    }
    const seen = () =>
      new Set(
        endpoint.posts
          .flatMap((p) => p.body.items ?? [])
          .filter((e) => e.verb === 'create')
          .map((e) => e.objectRef?.name),
      );
    // The forwarder's whole retry schedule for one batch is 10+15+22.5+33.75 s (the API server's).
    await waitFor(
      'every fwd-* create at the endpoint',
      Math.max(wait, 150_000),
      async () => names.every((n) => seen().has(n)) || null,
    ).catch(async (err) => {
      const log = await readFile(join(lab.dir, 'receiver.log'), 'utf8').catch(() => '');
      const fwdLines = log.split('\n').filter((l) => / sink fwd: /.test(l));
      const since = endpoint.answers[0]?.at ?? Date.now();
      console.error(
        `endpoint answers (ms after the first: code): ${endpoint.answers.map((a) => `${a.at - since}:${a.code}`).join(', ') || 'none'}`,
      );
      console.error(`fwd-* creates at the endpoint: ${names.filter((n) => seen().has(n)).length} of ${names.length}`);
      console.error(`receiver.log, the fwd sink's forwarding:\n${fwdLines.slice(-30).join('\n') || '(nothing)'}`);
      throw err;
    });
    for (const p of endpoint.posts) {
      check(
        p.body.kind === 'EventList' && p.body.apiVersion === 'audit.k8s.io/v1',
        `the endpoint got ${p.body.kind} ${p.body.apiVersion}, want an audit.k8s.io/v1 EventList`,
      );
      for (const e of p.body.items)
        check(
          e.level === 'Metadata' && e.stage === 'ResponseComplete' && !('requestObject' in e),
          'a forwarded event is not as the fwd sink stores it',
        );
    }
    const t = endpoint.posts.map((p) => p.at);
    const gaps = t.slice(1).map((x, i) => x - t[i]);
    console.log(
      `  endpoint: ${endpoint.posts.length} EventList batches taken, ${endpoint.posts.reduce((a, p) => a + p.body.items.length, 0)} events; gaps between batches (ms): ${gaps.join(', ')}`,
    );
    check(endpoint.posts.length >= 3, `only ${endpoint.posts.length} batches for a backlog of ${names.length}+ events`);
    // --qps 1 --burst 1: one batch may go at once, each further one waits a second for its token;
    // so no three batches within a second (100 ms allowed for a connection's handshake).
    const tight = t
      .slice(2)
      .map((x, i) => x - t[i])
      .filter((d) => d < 900);
    check(tight.length === 0, `three batches within ${Math.min(...tight)} ms at --qps 1 --burst 1`);
  });
}

const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** An event `policy suggest` must never cut: a write, secrets, a 401/403, exec/attach/portforward. */
function isProtected(e) {
  const o = e.objectRef ?? {};
  const code = e.responseStatus?.code;
  return (
    WRITES.has(e.verb) ||
    o.resource === 'secrets' ||
    code === 401 ||
    code === 403 ||
    ['exec', 'attach', 'portforward'].includes(o.subresource)
  );
}

/**
 * The README's "Finding the noise" on a real cluster: what the full sink (RequestResponse) holds
 * of the cluster's own controllers, kubelet and scheduler, counted by `top`, cut by `policy
 * suggest`, checked by `policy test`, and deployed with `sink create --policy`.
 */
async function findingTheNoise(lab, ns, wait) {
  const dir = await mkdtemp(join(tmpdir(), 'audit-lab-e2e-noise-'));
  const snap = join(dir, 'full.log');
  const quiet = join(dir, 'quiet.yaml');
  await step('static: top over a snapshot of the full sink, against counts made here', async () => {
    const lines = (await lab.al(['tail', '--no-follow', '-o', 'jsonl', '--sink', 'full'], { quiet: true })).stdout
      .split('\n')
      .filter((l) => l !== '');
    await writeFile(snap, lines.map((l) => `${l}\n`).join(''));
    const want = new Map();
    for (const l of lines) {
      const e = JSON.parse(l);
      const key = `${e.user?.username ?? ''} ${e.verb ?? ''}`;
      const g = want.get(key) ?? { events: 0, bytes: 0 };
      g.events++;
      g.bytes += Buffer.byteLength(l) + 1;
      want.set(key, g);
    }
    const doc = JSON.parse(
      (await lab.al(['top', '--no-follow', '--file', snap, '--by', 'user,verb', '-o', 'json'], { quiet: true })).stdout,
    );
    const got = new Map(doc.groups.map((g) => [`${g.key.user ?? ''} ${g.key.verb ?? ''}`, g]));
    check(got.size === want.size, `top has ${got.size} user/verb groups, the snapshot ${want.size}`);
    for (const [key, w] of want) {
      const g = got.get(key);
      check(
        g && g.events === w.events && g.bytes === w.bytes,
        `top group "${key}": ${g ? `${g.events} events, ${g.bytes} bytes` : 'missing'}; want ${w.events} events, ${w.bytes} bytes`,
      );
    }
    console.log(
      `  ${lines.length} events of the full sink in ${want.size} user/verb groups, each counted as top counts it`,
    );
    await lab.al(['top', '--no-follow', '--file', snap, '--limit', '10']);
  });
  await step('static: policy suggest on the snapshot, checked by policy test event by event', async () => {
    const text = (await lab.al(['policy', 'suggest', '--file', snap, '--target', '50%'])).stdout;
    await writeFile(quiet, text);
    const s = JSON.parse(
      (await lab.al(['policy', 'suggest', '--file', snap, '--target', '50%', '-o', 'json'], { quiet: true })).stdout,
    );
    check(s.yaml === text, 'policy suggest -o json carries other YAML than the plain run (not deterministic)');
    const judged = async (policy) =>
      JSON.parse((await lab.al(['policy', 'test', policy, '--file', snap, '-o', 'json'], { quiet: true })).stdout);
    const [after, base] = [await judged(quiet), await judged('preset:recommended')];
    check(
      after.summary.policy.bytes === s.after.bytes && after.summary.policy.events === s.after.events,
      `policy test of the suggestion writes ${after.summary.policy.events} events, ${after.summary.policy.bytes} bytes; suggest promised ${s.after.events}, ${s.after.bytes}`,
    );
    check(
      base.summary.policy.bytes === s.before.bytes,
      `policy test of preset:recommended writes ${base.summary.policy.bytes} bytes; suggest said ${s.before.bytes}`,
    );
    const events = (await readFile(snap, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
    let kept = 0;
    for (let i = 0; i < events.length; i++) {
      if (!isProtected(events[i])) continue;
      const [a, b] = [after.results[i], base.results[i]];
      check(a.line === i + 1 && a.auditID === events[i].auditID, `policy test result ${i} is not line ${i + 1}`);
      check(
        a.level === b.level && a.written === b.written,
        `the suggestion changes ${describe({ verb: events[i].verb, resource: events[i].objectRef?.resource ?? events[i].requestURI })} (line ${i + 1}): ${b.level} -> ${a.level}`,
      );
      kept++;
    }
    check(kept > 1000, `only ${kept} protected events in the snapshot (the forwarding step made 1,000 creates)`);
    console.log(
      `  ${s.rules.length} rules; ${s.before.bytes} -> ${s.after.bytes} bytes (target 50%: ${s.met ? 'met' : 'not met'}); ${kept} writes, secrets, 401/403 and exec events keep their level`,
    );
  });
  await step(
    'static: sink create quiet --policy (the suggestion), applied by the receiver as policy test says',
    async () => {
      await lab.al(['sink', 'create', 'quiet', '--policy', quiet]);
      // Writes, which no suggestion may drop, so the check below judges more than one event
      // whatever the suggestion cut of the cluster's own traffic (it may cut all of that).
      const api = await apiClient(lab);
      const names = Array.from({ length: 20 }, (_, i) => `quiet-cm-${i}`);
      await Promise.all(
        names.map((n) =>
          api('POST', `/api/v1/namespaces/${ns}/configmaps`, {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: n },
          }),
        ),
      );
      await waitFor('quiet sink: the 20 quiet-cm-* creates', wait, async () => {
        const created = new Set(
          (await lab.events('quiet')).filter((e) => e.verb === 'create').map((e) => e.objectRef?.name),
        );
        return names.every((n) => created.has(n)) || null;
      });
      const doc = JSON.parse(
        (await lab.al(['policy', 'test', quiet, '--sink', 'quiet', '-o', 'json'], { quiet: true })).stdout,
      );
      const off = doc.results.filter((r) => r.level !== r.capturedLevel || !r.written);
      check(
        off.length === 0,
        `${off.length} events in sink quiet are not what the policy gives them, e.g. ${JSON.stringify(off[0])}`,
      );
      console.log(`  quiet: ${doc.results.length} events, each at the level the suggested policy gives it`);
      await lab.al(['sink', 'delete', 'quiet']);
    },
  );
  await rm(dir, { recursive: true, force: true });
}

async function downAndBack(lab, ns, wait, sinksAfter) {
  const before = await lab.events('default');
  await step(`${lab.mode}: down keeps the events`, async () => {
    await lab.al(['down']);
    const clusters = await capture('kind', ['get', 'clusters'], { env: lab.env });
    check(!clusters.stdout.split('\n').includes(lab.name), `kind still has cluster ${lab.name} after down`);
    const kept = await lab.events('default');
    check(kept.length >= before.length, `down lost events: ${before.length} before, ${kept.length} after`);
    const s = await lab.status();
    check(!s.cluster.exists, 'status says the cluster exists after down');
  });
  await step(`${lab.mode}: up again brings sinks and events back`, async () => {
    await upAfterDown(lab, sinksAfter);
    if (lab.mode === 'dynamic') {
      const sinks = await lab.kubectl(['get', 'auditsinks', '-o', 'name']);
      for (const s of sinksAfter)
        check(
          sinks.stdout.includes(`/${s}\n`) || sinks.stdout.endsWith(`/${s}`),
          `AuditSink ${s} not applied again: ${sinks.stdout}`,
        );
    }
    await newEventsKeepOld(lab, `${ns}-again`, wait, before);
  });
  await step(`${lab.mode}: down --purge`, async () => {
    await lab.al(['down', '--purge']);
    const gone = await stat(lab.dir).then(
      () => false,
      () => true,
    );
    check(gone, `down --purge left ${lab.dir}`);
  });
}

/**
 * A second lab beside the first, with the narrow capture (`--capture sinks`): its own receiver and
 * events, and a sink wider than its capture restarts its API server, as asked.
 */
async function sideBySide(lab, wait) {
  await step('static: a second lab side by side, with the narrow capture', async () => {
    const other = new Lab({ mode: 'static', name: `${lab.name}-b`, home: lab.home, env: lab.env, image: lab.image });
    try {
      await other.al(['up', '--mode', 'static', '--capture', 'sinks', ...(lab.image ? ['--image', lab.image] : [])]);
      const [a, b] = [await lab.status(), await other.status()];
      console.log(`  receivers: ${lab.name} ${a.receiver.url}, ${other.name} ${b.receiver.url}`);
      check(a.receiver.healthy && b.receiver.healthy, 'both receivers must be healthy');
      check(new URL(a.receiver.url).port !== new URL(b.receiver.url).port, 'the two labs share a receiver port');
      const ns = `e2e-b-${Date.now()}`;
      await other.kubectl(['create', 'namespace', ns]);
      await expectInSink(
        other,
        'default',
        'Metadata',
        ['ResponseComplete'],
        [{ verb: 'create', resource: 'namespaces', name: ns }],
        wait,
      );
      check(
        !(await lab.events('default')).some((e) => e.objectRef?.name === ns),
        `lab ${lab.name} got lab ${other.name}'s event`,
      );
      const c = await timedSinkCreate(
        other,
        ns,
        'wide',
        'RequestResponse',
        ['--stage', 'ResponseStarted', '--stage', 'ResponseComplete'],
        { waitMs: wait, spacingMs: 500 },
      );
      check(
        c.restarted && /restart/i.test(c.said),
        `the narrow capture: a RequestResponse sink must restart the API server, and say so (restarted: ${c.restarted}):\n${c.said}`,
      );
      lab.narrowSinkCreate = c;
    } finally {
      await other.al(['down', '--purge'], { allow: [0, 1, 2] });
    }
    const a = await lab.status();
    check(a.receiver.healthy && a.cluster.ready, `lab ${lab.name} is not up after the other lab's down`);
  });
}

async function staticFlow(lab, endpoint) {
  const ns = `e2e-${Date.now()}`;
  const wait = 90_000;
  await basics(lab);
  await requests(lab, ns, wait);
  await latency(lab, ns, { count: 50, spacingMs: 300, waitMs: wait });
  await sideBySide(lab, wait);
  await loopSink(lab, ns, wait);
  await fullSink(lab, ns, wait);
  await policySink(lab, ns, wait);
  await forwarding(lab, ns, endpoint, wait);
  await findingTheNoise(lab, ns, wait);
  await step('static: receiver killed under steady traffic', () => faults(lab, ns));
  await downAndBack(lab, ns, wait, ['default', 'full', 'fwd']);
}

async function dynamicFlow(lab) {
  const ns = `e2e-${Date.now()}`;
  // The dynamic backend batches with its built-in defaults: events arrive up to ~30 s late.
  const wait = 120_000;
  await basics(lab);
  await requests(lab, ns, wait);
  // Its batches wait up to 30 s whatever the lab sets: a few requests show it.
  await latency(lab, ns, { count: 10, spacingMs: 500, waitMs: wait });
  await fullSink(lab, ns, wait);
  await step('dynamic: sink delete full removes the AuditSink', async () => {
    await lab.al(['sink', 'delete', 'full']);
    const sinks = await lab.kubectl(['get', 'auditsinks', '-o', 'name']);
    check(!sinks.stdout.includes('/full'), `AuditSink full still in the cluster: ${sinks.stdout}`);
    check(JSON.stringify(await lab.sinkNames()) === '["default"]', 'sink list still shows full');
  });
  await downAndBack(lab, ns, wait, ['default']);
}

// ---------------------------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  const wanted =
    (process.env.AUDIT_LAB_E2E_MODE ?? 'both') === 'both' ? ['static', 'dynamic'] : [process.env.AUDIT_LAB_E2E_MODE];
  for (const m of wanted)
    if (m !== 'static' && m !== 'dynamic') notRun(`AUDIT_LAB_E2E_MODE=${m}: use static, dynamic or both`);
  const offline = process.env.AUDIT_LAB_E2E_OFFLINE === '1' || (CI && process.env.AUDIT_LAB_E2E_OFFLINE !== '0');
  const settings = { ...process.env, ...(offline ? await offlineSettings() : {}) };

  const docker = await capture('docker', ['info', '--format', '{{.ServerVersion}}'], { env: settings });
  if (docker.missing) notRun('docker is not on PATH');
  if (docker.code !== 0 || docker.stdout.trim() === '')
    notRun(`the Docker daemon is not reachable (${docker.stderr.trim().split('\n')[0] || 'no answer'})`);

  const home = await mkdtemp(join(tmpdir(), 'audit-lab-e2e-'));
  const endpoint = await forwardEndpoint(home);
  const failures = [];
  const ran = [];
  const labsRun = [];
  try {
    for (const mode of wanted) {
      const M = mode.toUpperCase();
      const bin = await toolDir(join(home, `bin-${mode}`), {
        kind: settings[`AUDIT_LAB_E2E_${M}_KIND`],
        kubectl: settings[`AUDIT_LAB_E2E_${M}_KUBECTL`],
      });
      const env = {
        ...settings,
        PATH: `${bin}${delimiter}${settings.PATH}`,
        AUDIT_LAB_HOME: join(home, 'labs'),
        KUBECONFIG: join(home, `kubeconfig-${mode}`),
        NODE_EXTRA_CA_CERTS: endpoint.caFile,
        NO_COLOR: '1',
      };
      const kind = await capture('kind', ['version'], { env });
      if (kind.missing) notRun(`kind is not on PATH for ${mode} mode`);
      const kubectl = await capture('kubectl', ['version', '--client'], { env });
      if (kubectl.missing) notRun(`kubectl is not on PATH for ${mode} mode`);
      const lab = new Lab({
        mode,
        name: `ale2e-${mode}`,
        home: env.AUDIT_LAB_HOME,
        env,
        image: settings[`AUDIT_LAB_E2E_${M}_IMAGE`],
      });
      lab.kindVersion = kind.stdout.trim().split(' ').slice(0, 2).join(' ');
      lab.port = await freePort();
      labsRun.push(lab);
      // A run that was killed (CI's time limit, Ctrl-C) may have left its clusters behind.
      for (const c of [lab.name, `${lab.name}-b`]) await capture('kind', ['delete', 'cluster', '--name', c], { env });
      console.log(
        `\n======== ${mode} mode: ${kind.stdout.trim()}; image ${lab.image ?? '(default)'}; docker ${docker.stdout.trim()}`,
      );
      const modeStart = Date.now();
      try {
        await (mode === 'static' ? staticFlow(lab, endpoint) : dynamicFlow(lab));
        ran.push(
          `${mode} (Kubernetes ${lab.kubernetesVersion}, ${kind.stdout.trim().split(' ').slice(0, 2).join(' ')}) in ${secs(Date.now() - modeStart)}`,
        );
      } catch (err) {
        await reportFailure(lab, err, failures, ['receiver.log']);
      } finally {
        if (process.env.AUDIT_LAB_E2E_KEEP !== '1') {
          await capture(process.execPath, [BIN, 'down', '--purge', '--name', lab.name], { env });
          for (const c of [lab.name, `${lab.name}-b`])
            await capture('kind', ['delete', 'cluster', '--name', c], { env });
          // A 1.18 node leaves cgroup v1 hierarchies behind that break a later 1.37 kubelet.
          if (mode === 'dynamic' && settings.AUDIT_LAB_E2E_CGROUPFIX)
            await capture('bash', [settings.AUDIT_LAB_E2E_CGROUPFIX, 'cgroupfix']);
        }
      }
    }
  } finally {
    endpoint.close();
    if (process.env.AUDIT_LAB_E2E_KEEP !== '1') await rm(home, { recursive: true, force: true });
    else console.log(`kept: ${home}`);
  }

  reportSteps('kind', started, failures, ran);
  for (const l of labsRun) {
    const t = l.upTimes;
    if (t)
      console.log(
        `up ${l.mode}: first ${secs(t.first)} (a new cluster, cached image), second ${secs(t.second)} (nothing to change)${t.afterDown ? `, after down ${secs(t.afterDown)} (the cluster made again for the kept lab)` : ''}`,
      );
  }
  for (const l of labsRun)
    if (l.latency)
      console.log(
        `latency ${l.mode}: p50 ${l.latency.p50} ms, p99 ${l.latency.p99} ms, max ${l.latency.max} ms (${l.latency.n} requests; Kubernetes ${l.kubernetesVersion}, ${l.kindVersion})`,
      );
  const created = (what, c) =>
    console.log(
      `sink create ${what}: first RequestResponse event stored ${secs(c.ms)} after it was asked; kube-apiserver restarted: ${c.restarted ? 'yes' : 'no'}`,
    );
  for (const l of labsRun)
    if (l.sinkCreate) created(`${l.mode}${l.mode === 'static' ? ', new lab (full capture)' : ''}`, l.sinkCreate);
  for (const l of labsRun) if (l.narrowSinkCreate) created(`${l.mode}, --capture sinks`, l.narrowSinkCreate);
  console.log(`kind: ${ran.length} passed, 0 failed`);
}

await main();
