/**
 * What a static lab's API server captures, through `run(argv, io)` against the fake tools: a new
 * lab captures everything, so sinks change with no API server restart; the narrow capture is there
 * for whoever asks for it, and a lab keeps whichever it has until asked.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { labPaths } from '../../src/lab/paths.js';
import { readState } from '../../src/lab/state.js';
import { serveUrl, startCli } from '../harness/cli.js';
import { callLine, freePort, type Sandbox, sandboxFor, succeeded as ok } from '../harness/lab.js';
import { ASIDE, healthyTable, MANIFEST } from '../harness/tables.js';

const policyOf = async (sb: Sandbox) => parse(await readFile(join(sb.labDir(), 'apiserver', 'policy.yaml'), 'utf8'));
const captureOf = async (sb: Sandbox) => (await readState(labPaths(sb.home, 'audit-lab')))!.capture;
const restarts = async (sb: Sandbox) =>
  (await sb.calls()).map(callLine).filter((c) => c === `docker exec audit-lab-control-plane mv ${MANIFEST} ${ASIDE}`)
    .length;

describe('the capture of a static lab', () => {
  test('a new lab captures everything: a sink of any level and stages is created with no API server restart', async (t) => {
    const sb = await sandboxFor(t, healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--port', String(await freePort())]));
    expect(await captureOf(sb)).toBe('full');
    const policy = await policyOf(sb);
    expect(policy.rules).toEqual([{ level: 'RequestResponse' }]);
    expect(policy.omitStages ?? []).toEqual([]);

    await sb.clearCalls();
    const r = ok(
      await sb.run([
        'sink',
        'create',
        'full',
        '--level',
        'RequestResponse',
        '--stage',
        'ResponseStarted',
        '--stage',
        'ResponseComplete',
      ]),
    );
    expect(r.stdout + r.stderr).not.toMatch(/restart/i);
    expect(await restarts(sb)).toBe(0);
    expect(await policyOf(sb)).toEqual(policy);
  });

  test('up --capture sinks narrows it to what the sinks need, restarting the API server once; the next up keeps it', async (t) => {
    const sb = await sandboxFor(t, healthyTable());
    await sb.setWorld({ network: true });
    ok(await sb.run(['up', '--port', String(await freePort())]));
    ok(await sb.run(['sink', 'create', 'req', '--level', 'Request', '--stage', 'ResponseComplete']));

    await sb.clearCalls();
    ok(await sb.run(['up', '--capture', 'sinks']));
    expect(await restarts(sb)).toBe(1);
    expect(await captureOf(sb)).toBe('sinks');
    expect(await policyOf(sb)).toMatchObject({
      rules: [{ level: 'Request' }],
      omitStages: ['RequestReceived', 'ResponseStarted', 'Panic'],
    });

    // A lab saved with the narrow capture (as every lab made before full became the default) keeps it.
    await sb.clearCalls();
    const again = ok(await sb.run(['up']));
    expect(again.stdout).toContain('nothing to change');
    expect(await restarts(sb)).toBe(0);
    expect(await captureOf(sb)).toBe('sinks');

    // And widens only when asked.
    ok(await sb.run(['up', '--capture', 'full']));
    expect(await restarts(sb)).toBe(1);
    expect((await policyOf(sb)).rules).toEqual([{ level: 'RequestResponse' }]);
  });

  test('serve --capture sinks saves the narrow capture in a lab it makes, for render to write', async (t) => {
    const sb = await sandboxFor(t, healthyTable());
    const serve = startCli(['serve', '--capture', 'sinks', '--port', String(await freePort())], {
      env: { AUDIT_LAB_HOME: sb.home },
    });
    t.onTestFinished(async () => void (await serve.stop('SIGKILL')));
    await serveUrl(serve);
    expect(await captureOf(sb)).toBe('sinks');
    expect((await serve.stop()).code).toBe(0);
    const rendered = ok(await sb.run(['render']));
    expect(rendered.stdout).toContain('omitStages:');
  });
});
