/**
 * `sink create --dry-run` prints the steps `sink create` runs (src/cluster/sinkCreate.ts), as
 * `up --dry-run` does for `up`: this holds the two together. Two identical labs whose cluster runs,
 * against the fake tools, which record every argv they are asked: one runs the change, the other
 * prints its plan. `sink delete` has no --dry-run: its plan (planSinkDelete) is held to what it
 * runs the same way. Build first: `npm run build`.
 */
import { readFile } from 'node:fs/promises';
import { expect, test, type TestContext } from 'vitest';
import { kindProvider } from '../../src/cluster/kind.js';
import { planSinkDelete } from '../../src/cluster/sinks.js';
import { planLines } from '../../src/cluster/steps.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import type { Capture } from '../../src/lab/state.js';
import { makeTools } from '../../src/tools/index.js';
import { commandLine, createRunner } from '../../src/tools/run.js';
import { callLine, type Sandbox, sandboxFor, succeeded, writeUpLab } from '../harness/lab.js';
import { healthyTable, withRows } from '../harness/tables.js';

const DYNAMIC = { desktop: true, cgroup: '1', kindVersion: '0.11.1', mode: 'dynamic', kubernetes: 'v1.18.19' } as const;
const DELETE_SINK = {
  kubectl: [
    { args: ['--context', 'kind-audit-lab', 'delete', 'auditsink', '*', '--ignore-not-found'], stdout: 'deleted\n' },
  ],
};

/** A sandbox whose lab is as `up` leaves it, and whose cluster runs. */
async function labWithCluster(
  t: TestContext,
  mode: 'static' | 'dynamic',
  capture: Capture,
): Promise<{ sb: Sandbox; paths: LabPaths }> {
  const sb = await sandboxFor(t, withRows(healthyTable(mode === 'dynamic' ? DYNAMIC : {}), DELETE_SINK));
  const paths = labPaths(sb.home, 'audit-lab');
  await writeUpLab(paths, mode, capture);
  await sb.setWorld({ cluster: true, network: true, sinksApplied: true });
  return { sb, paths };
}

const ran = async (sb: Sandbox) => (await sb.calls()).map((c) => callLine(c).replaceAll(sb.dir, '<sandbox>'));
const printed = (sb: Sandbox, text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('$ '))
    .map((l) => l.slice(2).replaceAll(sb.dir, '<sandbox>'));

test.for<[string, 'static' | 'dynamic', Capture, string[], number]>([
  ['dynamic: the AuditSink applied', 'dynamic', 'sinks', ['full', '--level', 'RequestResponse'], 2],
  [
    'static: a capture that does not cover the sink, so the API server restarts',
    'static',
    'sinks',
    ['full', '--level', 'RequestResponse'],
    5,
  ],
  [
    'static: a capture that covers it, so no tool is asked',
    'static',
    'full',
    ['full', '--level', 'RequestResponse'],
    0,
  ],
])(
  'the commands sink create --dry-run prints are the commands sink create runs, in order (%s)',
  async ([, mode, capture, args, count], t) => {
    const real = await labWithCluster(t, mode, capture);
    const dry = await labWithCluster(t, mode, capture);
    const state = await readFile(dry.paths.state, 'utf8');

    succeeded(await real.sb.run(['sink', 'create', ...args]));
    const plan = succeeded(await dry.sb.run(['sink', 'create', ...args, '--dry-run']));
    expect(await dry.sb.calls()).toEqual([]);
    expect(await readFile(dry.paths.state, 'utf8')).toBe(state);

    const commands = await ran(real.sb);
    expect(printed(dry.sb, plan.stderr)).toEqual(commands);
    expect(commands).toHaveLength(count);
  },
);

test('the steps sink delete describes are the commands it runs, in order (dynamic: its AuditSink leaves the cluster)', async (t) => {
  const real = await labWithCluster(t, 'dynamic', 'sinks');
  const dry = await labWithCluster(t, 'dynamic', 'sinks');
  const tools = makeTools(createRunner(dry.sb.env()));
  const plan = await planSinkDelete('default', dry.paths, { tools, provider: kindProvider(tools) });
  expect(await dry.sb.calls()).toEqual([]);

  succeeded(await real.sb.run(['sink', 'delete', 'default']));
  const commands = await ran(real.sb);
  expect(commands).toEqual([
    'kind get clusters',
    'kubectl --context kind-audit-lab delete auditsink default --ignore-not-found',
  ]);
  expect(printed(dry.sb, planLines(plan).join('\n'))).toEqual(commands);
});

test('sink create --dry-run keeps stdout to the AuditSink, and says on stderr that the plan takes the cluster to run', async (t) => {
  const { sb } = await labWithCluster(t, 'dynamic', 'sinks');
  const r = succeeded(await sb.run(['sink', 'create', 'full', '--dry-run']));
  expect(r.stdout).toMatch(/^apiVersion: auditregistration\.k8s\.io\/v1alpha1\nkind: AuditSink\n/);
  expect(r.stdout).not.toContain('$ ');
  expect(r.stderr).toContain('dry run: nothing is run or written; the steps take the cluster to be running');
  expect(r.stderr).toContain(`$ ${commandLine(['kubectl', '--context', 'kind-audit-lab', 'apply', '-f', '-'])}`);
});
