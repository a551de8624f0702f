// How fast `--file` reads audit logs (src/streams/source.ts readSource, built in dist/): events per
// second and peak RSS of a process that only reads, over a generated log of the API server's
// Metadata events (~650 bytes each, as kube-controller-manager's): one plain file, the same gzipped, and the same split into a
// rotated set given out of order (merged by time). For scale, in the same run on the same file,
// the pipeline people use today: jq -r '...' | sort | uniq -c | sort -rn. Prints, asserts nothing.
//
//   npm run build && node test/bench/files.mjs        (BENCH_EVENTS=N; default 1000000)
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--read') {
  // The measured process: reads the files given, counts events, reports time and peak RSS.
  const { readSource } = await import(new URL('../../dist/streams/source.js', import.meta.url).href);
  const files = process.argv.slice(3).map((p) => ({ path: p, shown: p }));
  let events = 0;
  let maxBatch = 0;
  const t0 = process.hrtime.bigint();
  const skipped = await readSource(
    { kind: 'files', files },
    { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 100 },
    (batch) => {
      events += batch.length;
      if (batch.length > maxBatch) maxBatch = batch.length;
    },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // VmHWM, not resourceUsage().maxRSS: Linux keeps maxRSS across fork and exec, so a child would
  // report its parent's peak (this script's, which generated the file).
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(await readFile('/proc/self/status', 'utf8').catch(() => ''));
  const rssMiB = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ events, seconds, maxBatch, skipped: skipped.count, rssMiB }));
  process.exit(0);
}

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const USERS = [
  'system:kube-controller-manager',
  'system:kube-scheduler',
  'system:node:kind-control-plane',
  'kubernetes-admin',
  'system:serviceaccount:kube-system:coredns',
  'system:apiserver',
];
const VERBS = ['get', 'list', 'watch', 'update', 'create', 'patch', 'delete'];
const RESOURCES = [
  ['leases', 'coordination.k8s.io'],
  ['pods', ''],
  ['configmaps', ''],
  ['endpointslices', 'discovery.k8s.io'],
  ['deployments', 'apps'],
  ['secrets', ''],
];
const T0 = Date.UTC(2026, 10, 29, 9, 0, 0) * 1000;
const time = (us) =>
  `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;
const hex = (i, n) => ((i * 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, n);

function line(i) {
  const [resource, group] = RESOURCES[(i * 3) % RESOURCES.length];
  const at = T0 + i * 1000;
  const name = `obj-${i % 97}`;
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `${hex(i, 8)}-${hex(i + 1, 4)}-4${hex(i + 2, 3)}-8${hex(i + 3, 3)}-${hex(i + 4, 8)}${hex(i + 5, 4)}`,
    stage: 'ResponseComplete',
    requestURI: `/${group ? `apis/${group}` : 'api'}/v1/namespaces/kube-system/${resource}/${name}`,
    verb: VERBS[(i * 7) % VERBS.length],
    user: { username: USERS[i % USERS.length], groups: ['system:authenticated'] },
    sourceIPs: ['172.18.0.2'],
    userAgent: 'kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/9edcffc',
    objectRef: { resource, namespace: 'kube-system', name, ...(group ? { apiGroup: group } : {}), apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: time(at),
    stageTimestamp: time(at + 1234),
  });
}

async function generate(path, from, to) {
  const out = createWriteStream(path);
  for (let i = from; i < to; i += 1000) {
    const block = [];
    for (let j = i; j < Math.min(i + 1000, to); j++) block.push(line(j));
    if (!out.write(`${block.join('\n')}\n`)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

function measure(files) {
  const r = spawnSync(process.execPath, [self, '--read', ...files], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function jqPipeline(file) {
  const t0 = process.hrtime.bigint();
  execFileSync('sh', [
    '-c',
    `jq -r '.user.username + " " + .verb + " " + .objectRef.resource' "$1" | sort | uniq -c | sort -rn > /dev/null`,
    'sh',
    file,
  ]);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const work = mkdtempSync(join(tmpdir(), 'bench-files-'));
try {
  const plain = join(work, 'audit.log');
  await generate(plain, 0, N);
  const size = statSync(plain).size;
  const gz = join(work, 'audit.log.gz');
  await pipeline(createReadStream(plain), createGzip(), createWriteStream(gz));
  // A rotated set of 10, named as kube-apiserver names them, given newest first (a glob's order differs anyway).
  const parts = [];
  for (let k = 0; k < 10; k++) {
    const p = join(
      work,
      k === 9 ? 'audit-current.log' : `audit-2026-11-29T09-${String(k).padStart(2, '0')}-00.000.log`,
    );
    await generate(p, (k * N) / 10, ((k + 1) * N) / 10);
    parts.push(p);
  }
  console.log(
    `${N} events, ${(size / 1024 / 1024).toFixed(0)} MiB (${Math.round(size / N)} bytes each); node ${process.version}`,
  );
  const show = (name, m) =>
    console.log(
      `  ${name.padEnd(34)} ${m.seconds.toFixed(2).padStart(6)} s  ${Math.round(m.events / m.seconds)
        .toLocaleString('en')
        .padStart(
          9,
        )} events/s  peak RSS ${m.rssMiB.toFixed(0).padStart(4)} MiB  largest batch ${m.maxBatch}${m.events !== N ? `  (read ${m.events}!)` : ''}`,
    );
  show('reader, one plain file', measure([plain]));
  show('reader, the same gzipped', measure([gz]));
  show('reader, rotated set of 10 (merged)', measure([...parts].reverse()));
  const hasJq = spawnSync('jq', ['--version']).status === 0;
  if (hasJq) {
    const t = jqPipeline(plain);
    console.log(
      `  ${'jq | sort | uniq -c | sort -rn'.padEnd(34)} ${t.toFixed(2).padStart(6)} s  ${Math.round(N / t)
        .toLocaleString('en')
        .padStart(9)} events/s  (baseline for bench:top)`,
    );
  } else console.log('  (jq not on PATH: no baseline)');
} finally {
  rmSync(work, { recursive: true, force: true });
}
