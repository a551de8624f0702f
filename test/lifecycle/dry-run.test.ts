/**
 * `up --dry-run` prints the steps `up` runs (src/cluster/up.ts): this holds the two together. The
 * real `up` runs against the fake tools, which record every argv they are asked; the dry run runs
 * on an identical fresh sandbox (no cluster, no kind network: the first cluster on a Linux machine).
 * Build first: `npm run build`.
 */
import { afterEach, expect, test } from 'vitest';
import { kindProvider } from '../../src/cluster/kind.js';
import { planDown } from '../../src/cluster/down.js';
import { planLines } from '../../src/cluster/steps.js';
import { receiverControl } from '../../src/daemon/control.js';
import { labPaths } from '../../src/lab/paths.js';
import { makeTools } from '../../src/tools/index.js';
import { commandLine, createRunner } from '../../src/tools/run.js';
import { callLine, freePort, type Result, Sandbox } from '../harness/lab.js';
import { GATEWAY, healthyTable } from '../harness/tables.js';

const sandboxes: Sandbox[] = [];
afterEach(async () => {
  for (const sb of sandboxes.splice(0)) await sb.cleanup();
});

async function sandbox(): Promise<Sandbox> {
  const sb = await Sandbox.create(healthyTable());
  sandboxes.push(sb);
  return sb;
}

function ok(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

/** The checks run at once, so their order is not the list's: compared as a set. */
function checksSorted(lines: string[]): string[] {
  return [...lines.slice(0, 3).sort(), ...lines.slice(3)];
}

test('the commands up --dry-run prints are the commands up runs, in order', async () => {
  const port = String(await freePort());
  const real = await sandbox();
  const dry = await sandbox();
  ok(await real.run(['up', '--port', port]));
  const printed = ok(await dry.run(['up', '--dry-run', '--port', port]));
  expect(await dry.calls()).toEqual([]);

  const ran = (await real.calls()).map((c) =>
    commandLine(
      // The one argv learned at run time: the node reaches the receiver at the kind network's
      // gateway, known only once kind made the network; the dry run names it <gateway>.
      [c.tool, ...c.args].map((a) => a.replace(`https://${GATEWAY}:`, 'https://<gateway>:')),
    ).replaceAll(real.dir, '<sandbox>'),
  );
  const said = printed.stdout
    .split('\n')
    .filter((l) => l.startsWith('$ '))
    .map((l) => l.slice(2).replaceAll(dry.dir, '<sandbox>'));
  // The fakes answer /readyz and the node's curl at once, so neither is polled again.
  expect(checksSorted(said)).toEqual(checksSorted(ran));
  expect(ran.length).toBeGreaterThan(10);
});

test('down has no --dry-run, but the steps it describes are the commands it runs, in order', async () => {
  const real = await sandbox();
  const dry = await sandbox();
  for (const sb of [real, dry]) {
    ok(await sb.run(['up', '--port', String(await freePort())]));
    await sb.clearCalls();
  }
  const tools = makeTools(createRunner(dry.env()));
  const steps = await planDown(
    labPaths(dry.home, 'audit-lab'),
    { purge: true, keepCluster: false },
    { provider: kindProvider(tools), receiver: await receiverControl(dry.env()), progress: silent },
  );
  expect(await dry.calls()).toEqual([]);
  ok(await real.run(['down', '--purge']));
  const ran = (await real.calls()).map(callLine);
  expect(ran).toEqual(['kind get clusters', 'kind delete cluster --name audit-lab']);
  expect(
    planLines(steps)
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2)),
  ).toEqual(ran);
  expect(steps.map((s) => s.title)).toEqual(['find cluster', 'delete cluster', 'stop receiver', 'purge']);
});

const none = () => {};
const silent = {
  start: async () => {},
  update: none,
  succeed: none,
  fail: none,
  info: none,
  warn: none,
  toolLine: none,
  findings: none,
  stepTime: none,
};
