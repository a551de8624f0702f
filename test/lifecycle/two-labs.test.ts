/**
 * Two labs side by side, through `run(argv, io)` against the fake tools:
 * `up --name a`, `up --name b`, each receiver answering /healthz over HTTPS on a port of its own,
 * `list` showing both, and `down --name a` leaving b's receiver and cluster alone.
 * Build first: `npm run build`.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { expect, test, type TestContext } from 'vitest';
import type { LabSummary } from '../../src/cluster/list.js';
import { type Call, isAlive, type Result, Sandbox } from '../harness/lab.js';
import { twoLabsTable } from '../harness/tables.js';

async function sandbox(t: TestContext): Promise<Sandbox> {
  const sb = await Sandbox.create(twoLabsTable('a', 'b'));
  t.onTestFinished(() => sb.cleanup());
  // Another lab's cluster made the kind network already, so neither up restarts its API server.
  await sb.setWorld({ network: true });
  return sb;
}

function ok(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

/** GET url/healthz, trusting only the lab's own CA: the status code, or the error's code. */
async function healthz(sb: Sandbox, lab: string, url: string): Promise<number | string> {
  const ca = await readFile(join(sb.labDir(lab), 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { ca, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

const line = (c: Call) => `${c.tool} ${c.args.join(' ')}`;

test('up --name a, up --name b: both healthy on their own ports, list shows both, down --name a leaves b running', async (t) => {
  const sb = await sandbox(t);
  ok(await sb.run(['up', '--name', 'a']));
  ok(await sb.run(['up', '--name', 'b']));

  await sb.clearCalls();
  const labs = (JSON.parse(ok(await sb.run(['list', '-o', 'json'])).stdout) as { items: LabSummary[] }).items;
  // One cluster list for every lab, as `kind get clusters` itself.
  expect((await sb.calls()).map(line).filter((c) => c === 'kind get clusters')).toHaveLength(1);
  expect(labs.map((l) => l.name)).toEqual(['a', 'b']);
  for (const l of labs) {
    expect(l).toMatchObject({
      dir: sb.labDir(l.name),
      mode: 'static',
      cluster: { exists: true },
      receiver: { running: true, healthy: true },
      sinks: [{ name: 'default', events: 0 }],
      events: 0,
      problem: null,
    });
  }
  const [a, b] = labs as [LabSummary, LabSummary];
  const port = (l: LabSummary) => Number(new URL(l.receiver.url!).port);
  expect(port(a)).not.toBe(port(b));
  expect(await healthz(sb, 'a', a.receiver.url!)).toBe(200);
  expect(await healthz(sb, 'b', b.receiver.url!)).toBe(200);

  const table = ok(await sb.run(['list'])).stdout.split('\n');
  expect(table[0]).toMatch(/^NAME\s+MODE\s+KUBERNETES\s+CLUSTER\s+RECEIVER\s+URL\s+SINKS\s+EVENTS$/);
  expect(table[1]).toMatch(new RegExp(`^a\\s+static\\s+-\\s+up\\s+running\\s+${a.receiver.url}\\s+default\\s+0$`));
  expect(table[2]).toMatch(new RegExp(`^b\\s+static\\s+-\\s+up\\s+running\\s+${b.receiver.url}\\s+default\\s+0$`));
  expect(table.slice(3)).toEqual(['']);

  await sb.clearCalls();
  ok(await sb.run(['down', '--name', 'a']));
  const downCalls = (await sb.calls()).map(line);
  expect(downCalls).toContain('kind delete cluster --name a');
  expect(downCalls.filter((c) => / b($| )|kind-b|b-control-plane/.test(c))).toEqual([]);
  expect(await healthz(sb, 'a', a.receiver.url!)).toBe('ECONNREFUSED');
  expect(await healthz(sb, 'b', b.receiver.url!)).toBe(200);
  expect(isAlive(b.receiver.pid!)).toBe(true);

  const after = (JSON.parse(ok(await sb.run(['list', '-o', 'json'])).stdout) as { items: LabSummary[] }).items;
  expect(after.map((l) => [l.name, l.cluster.exists, l.receiver.running, l.receiver.url])).toEqual([
    ['a', false, false, a.receiver.url],
    ['b', true, true, b.receiver.url],
  ]);
  expect(ok(await sb.run(['list', '-o', 'name'])).stdout).toBe('lab/a\nlab/b\n');
  ok(await sb.run(['down', '--name', 'b']));
});
