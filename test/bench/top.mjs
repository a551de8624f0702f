#!/usr/bin/env node
// `audit-lab top` against the pipeline people run today on an audit log:
//   jq -r '.user.username + " " + .verb + " " + .objectRef.resource' audit.log | sort | uniq -c | sort -rn
// on the same generated 1,000,000-event log (API-server-like Metadata events, seeded), in the same
// run, each side BENCH_RUNS times (default 2, alternating), checking that both count the same
// per group. Then where top's time goes (reading vs grouping, in-process), and how long a live
// redraw takes at 4,000 events/s (the render alone, and frames seen through a pseudo-terminal).
// Prints figures; asserts nothing.
//
//   npm run bench:top            BENCH_EVENTS=N (default 1000000), BENCH_RUNS=N, BENCH_LIVE_SECONDS=N (default 10)
//
// The log is generated once and kept in $TMPDIR/audit-lab-bench/ (about 770 MB for 1M events;
// its name carries the generator's version, count and seed); delete it to start over.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure } from './rss.mjs';
import { generate } from './topData.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'audit-lab.js');
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RUNS = Math.max(2, Number(process.env.BENCH_RUNS ?? 2));
const LIVE_SECONDS = Number(process.env.BENCH_LIVE_SECONDS ?? 10);
const SEED = 14;
const GENERATOR_VERSION = 1;
const JQ = '/usr/bin/jq';
// A fixed script; the file comes in as "$1", never spliced into it.
const PIPELINE = `${JQ} -r '.user.username + " " + .verb + " " + .objectRef.resource' "$1" | sort | uniq -c | sort -rn`;

const { readSource } = await import(new URL('../../dist/streams/source.js', import.meta.url).href);
const { GroupTable } = await import(new URL('../../dist/top/groups.js', import.meta.url).href);
const { buildReport } = await import(new URL('../../dist/top/report.js', import.meta.url).href);
const { parseWindow } = await import(new URL('../../dist/top/window.js', import.meta.url).href);
const { topScreenLines } = await import(new URL('../../dist/ui/topView.js', import.meta.url).href);
const { labPaths } = await import(new URL('../../dist/lab/paths.js', import.meta.url).href);
const { DEFAULT_SINK, newLabState, newSinkState, writeState } = await import(
  new URL('../../dist/lab/state.js', import.meta.url).href
);

const _ms = (n) => `${n.toFixed(0)} ms`;
const s = (n) => `${(n / 1000).toFixed(2)} s`;
const median = (xs) => {
  const o = [...xs].sort((a, b) => a - b);
  const m = o.length >> 1;
  return o.length % 2 === 1 ? o[m] : (o[m - 1] + o[m]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// ---- the log, cached ------------------------------------------------------------------------

/** The resource as top shows it (group/resource/subresource) and as jq's `.objectRef.resource` does. */
const topResource = (c) => [c.group, c.resource, c.subresource].filter((p) => p !== '').join('/');

async function logFile() {
  const dir = join(tmpdir(), 'audit-lab-bench');
  const file = join(dir, `top-v${GENERATOR_VERSION}-${EVENTS}-seed${SEED}.log`);
  const truth = `${file}.groups.json`;
  if (existsSync(file) && existsSync(truth))
    return { file, truth: JSON.parse(readFileSync(truth, 'utf8')), cached: true };
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const partial = `${file}.partial`;
  const fd = openSync(partial, 'w');
  // What the generator made, per group as top keys it, and top's resource names as jq's.
  const groups = {};
  const jqResource = {};
  let lines = [];
  const flush = () => {
    writeSync(fd, `${lines.join('\n')}\n`);
    lines = [];
  };
  generate({ count: EVENTS, seed: SEED, perSecond: 4000 }, (line, c) => {
    const key = `${c.user} ${c.verb} ${topResource(c)}`;
    groups[key] = (groups[key] ?? 0) + 1;
    jqResource[topResource(c)] = c.resource;
    lines.push(line);
    if (lines.length === 10_000) flush();
  });
  if (lines.length > 0) flush();
  closeSync(fd);
  renameSync(partial, file);
  const t = { groups, jqResource };
  await writeFile(truth, JSON.stringify(t));
  console.log(`generated ${EVENTS} events in ${s(performance.now() - t0)}`);
  return { file, truth: t, cached: false };
}

// ---- top vs the pipeline --------------------------------------------------------------------

async function versus(file, truth, home) {
  const topArgv = [
    process.execPath,
    BIN,
    'top',
    '--no-follow',
    '--file',
    file,
    '--by',
    'user,verb,resource',
    '-o',
    'json',
  ];
  const pipeArgv = ['/bin/bash', '-c', PIPELINE, 'pipeline', file];
  const tops = [];
  const pipes = [];
  for (let i = 0; i < RUNS; i++) {
    tops.push(await measure(topArgv, { AUDIT_LAB_HOME: home }));
    // LC_ALL=C: sort's fastest collation, the pipeline at its best.
    pipes.push(await measure(pipeArgv, { LC_ALL: 'C' }));
  }

  // Same counts? top's groups folded to jq's keys (jq sees no API group or subresource).
  const doc = JSON.parse(tops[0].stdout);
  const fromTop = new Map();
  const topOwn = new Map();
  for (const g of doc.groups) {
    const k = g.key;
    topOwn.set(`${k.user} ${k.verb} ${k.resource}`, g.events);
    const key = `${k.user} ${k.verb} ${truth.jqResource[k.resource] ?? `?${k.resource}`}`;
    fromTop.set(key, (fromTop.get(key) ?? 0) + g.events);
  }
  const fromJq = new Map();
  for (const line of pipes[0].stdout.split('\n')) {
    const m = /^\s*(\d+) (.*)$/.exec(line);
    if (m) fromJq.set(m[2], Number(m[1]));
  }
  const same = (a, b) => a.size === b.size && [...a].every(([k, n]) => b.get(k) === n);
  const generated = new Map(Object.entries(truth.groups));

  const best = (xs) => Math.min(...xs.map((x) => x.wall));
  const med = (xs) => median(xs.map((x) => x.wall));
  console.log(
    `\n== top --no-follow --by user,verb,resource -o json vs jq | sort | uniq -c | sort -rn (${RUNS} runs each, alternating) ==`,
  );
  console.log(
    `  top       best ${s(best(tops))}  median ${s(med(tops))}  peak RSS ${Math.max(...tops.map((t) => t.rssMb)).toFixed(0)} MB (${tops[0].how})`,
  );
  console.log(`  pipeline  best ${s(best(pipes))}  median ${s(med(pipes))}`);
  console.log(
    `  ratio     pipeline / top = ${(best(pipes) / best(tops)).toFixed(2)}x (best), ${(med(pipes) / med(tops)).toFixed(2)}x (median)   target >= 2x, RSS < 150 MB`,
  );
  console.log(
    `  counts    top and the pipeline agree on every group: ${same(fromTop, fromJq) ? 'yes' : 'NO'} (${fromJq.size} pipeline groups, ${doc.groups.length} top groups)`,
  );
  console.log(
    `            top's groups are the generated ones, count for count: ${same(topOwn, generated) ? 'yes' : 'NO'}; events ${doc.totals.events}, bytes ${doc.totals.bytes} (file ${statSync(file).size})`,
  );
}

// ---- where top's time goes -------------------------------------------------------------------

async function breakdown(file) {
  const source = { kind: 'files', files: [{ path: file, shown: file }] };
  const query = { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 100 };
  // One pass, the clock stopped around the grouping of each batch: what is left is the reading.
  // (Two passes, with and without grouping, differ by more than that on a shared machine.)
  const table = new GroupTable({ keys: ['user', 'verb', 'resource'], sparkline: false });
  let grouping = 0;
  let n = 0;
  const t0 = performance.now();
  await readSource(source, query, (events) => {
    const t = performance.now();
    for (const e of events) table.add(e);
    grouping += performance.now() - t;
    n += events.length;
  });
  const total = performance.now() - t0;
  console.log(`\n== where top's time goes (in-process on dist/, one pass; ${n} events) ==`);
  console.log(
    `  reading (streams/source.ts readSource: lines, parsing)  ${s(total - grouping)}  (${(((total - grouping) / total) * 100).toFixed(0)}%)`,
  );
  console.log(
    `  grouping (top/groups.ts GroupTable.add)                 ${s(grouping)}  (${((grouping / total) * 100).toFixed(0)}%; ${((grouping * 1000) / n).toFixed(2)} µs an event)`,
  );
}

// ---- live: the redraw at 4,000 events/s ----------------------------------------------------

/** The report and the screen for one tick, as live.ts draws them, timed alone. */
function renderTimes(users, label) {
  const window = parseWindow('1m');
  const table = new GroupTable({ keys: ['user', 'verb', 'resource'], window, sparkline: true });
  const start = Date.UTC(2026, 10, 29, 10) * 1000;
  const times = [];
  const second = [];
  generate({ count: 4000, seed: 1, perSecond: 4000 }, (line, c) => second.push({ line, c }));
  let made = 0;
  // 120 s of event time at 4,000 events/s (one second's events, again and again); a frame at the end of each second.
  for (let at = 0; at < 120; at++) {
    const stamp = new Date((start + at * 1_000_000 + 500_000) / 1000).toISOString();
    for (const { line, c } of second) {
      const user = users > 0 ? `user-${made++ % users}` : c.user;
      table.add({
        sink: 'default',
        text: line,
        event: {
          user: { username: user },
          verb: c.verb,
          objectRef: { resource: c.resource, apiGroup: c.group, subresource: c.subresource },
          requestReceivedTimestamp: stamp,
        },
      });
    }
    const t0 = performance.now();
    const end = start + (at + 1) * 1_000_000 - 1;
    const report = buildReport(table, {
      end,
      window,
      windowTotals: false,
      sort: { column: 'rate', reverse: false },
      limit: 47,
      sparkline: true,
    });
    const screen = {
      source: 'sink default',
      window: '1m',
      eventsPerSecond: report.totals.eventsPerSecond,
      bytesPerSecond: report.totals.bytesPerSecond,
      groups: report.totals.groups,
      paused: false,
      loading: false,
      skipping: false,
      sortedBy: 'rate',
      reverse: false,
      hidden: report.hidden,
    };
    const lines = topScreenLines(screen, report.rows, {
      keys: ['user', 'verb', 'resource'],
      style: { bold: String, dim: String, cyan: String, underline: String, inverse: String, yellow: String },
      cols: 160,
      rows: 50,
    });
    if (lines.length === 0) throw new Error('no screen');
    if (at >= 60) times.push(performance.now() - t0);
  }
  console.log(
    `  ${label.padEnd(44)} ${String(table.groups.length).padStart(6)} groups: median ${times.length ? median(times).toFixed(2) : '-'} ms, max ${Math.max(...times).toFixed(2)} ms a frame`,
  );
}

/**
 * The real thing: `top` in a pseudo-terminal (util-linux script) following a lab stream that a
 * child process appends 4,000 events a second to; each frame's arrival is timed against the
 * second tick it was drawn for. This includes the pty and script's relaying, so it is an upper
 * bound of what top itself takes.
 */
async function liveFrames() {
  const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-top-'));
  try {
    const paths = labPaths(home, 'audit-lab');
    const state = newLabState({
      name: 'audit-lab',
      mode: 'static',
      image: null,
      kubernetesVersion: null,
      now: new Date(),
    });
    state.sinks.push(newSinkState({ ...DEFAULT_SINK, name: 'default' }, new Date()));
    await writeState(paths, state);
    await mkdir(paths.streamsDir, { recursive: true });
    const stream = join(paths.streamsDir, 'default.log');
    await writeFile(stream, '');
    // The writer: 400 events every 100 ms, stamped with the time they are written.
    const writerCode = `
      import { appendFileSync } from 'node:fs';
      const { generate } = await import(${JSON.stringify(new URL('./topData.mjs', import.meta.url).href)});
      let seed = 1;
      setInterval(() => {
        const lines = [];
        generate({ count: 400, seed: seed++, perSecond: 4000, startMicros: Date.now() * 1000 - 100_000 }, (l) => lines.push(l));
        appendFileSync(${JSON.stringify(stream)}, lines.join('\\n') + '\\n');
      }, 100);`;
    const writer = spawn(process.execPath, ['--input-type=module', '-e', writerCode], { stdio: 'ignore' });
    const quote = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
    const command = `/usr/bin/stty cols 160 rows 50; exec ${[process.execPath, BIN, 'top'].map(quote).join(' ')}`;
    const pty = spawn('/usr/bin/script', ['-qefc', command, '/dev/null'], {
      env: { ...process.env, AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const started = Date.now();
    const lateness = [];
    let framesSeen = 0;
    pty.stdout.on('data', (chunk) => {
      const at = Date.now();
      const frames = chunk.toString('latin1').split('\u001b[H').length - 1;
      framesSeen += frames;
      // The first seconds hold the start-up frames (drawn at once, not on a tick).
      if (frames > 0 && at - started > 2500) lateness.push(at % 1000);
    });
    await new Promise((r) => setTimeout(r, LIVE_SECONDS * 1000));
    pty.stdin.write('q');
    await new Promise((r) => pty.on('close', r));
    writer.kill();
    const stored = statSync(stream).size;
    console.log(
      `  through a pseudo-terminal, ${LIVE_SECONDS} s of top following a stream fed 4,000 events/s (${(stored / 1e6).toFixed(0)} MB written):`,
    );
    if (lateness.length === 0) return console.log('    no frames seen: the live view did not draw');
    console.log(
      `    ${lateness.length} frames after the start-up ones (${framesSeen} in all): drawn and shown a median ${median(lateness)} ms after the second tick, 95th percentile ${pct(lateness, 0.95)} ms, max ${Math.max(...lateness)} ms`,
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------------------

const { file, truth, cached } = await logFile();
console.log(
  `log: ${file} (${(statSync(file).size / 1e6).toFixed(0)} MB, ${EVENTS} events${cached ? ', cached from an earlier run' : ''})`,
);
console.log(
  `node ${process.version}, ${execFileSync(JQ, ['--version'], { encoding: 'utf8' }).trim()}, ${execFileSync('sort', ['--version'], { encoding: 'utf8' }).split('\n')[0]}`,
);
const home = await mkdtemp(join(tmpdir(), 'audit-lab-bench-home-'));
try {
  await versus(file, truth, home);
} finally {
  await rm(home, { recursive: true, force: true });
}
await breakdown(file);
console.log('\n== live redraw at 4,000 events/s (target: within 50 ms of the second tick) ==');
console.log(
  '  report + screen for one tick (top/report.ts buildReport, ui/topView.ts topScreenLines), 160x50, 1m window:',
);
renderTimes(0, 'the generated traffic (user, verb, resource)');
renderTimes(5_000, '5,000 distinct users');
renderTimes(50_000, '50,000 distinct users (the group cap)');
await liveFrames();
