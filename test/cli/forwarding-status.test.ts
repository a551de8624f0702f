/**
 * What a user sees of a forwarding sink whose endpoint is down, from the CLI: `serve` (a process)
 * as the lab's receiver, fed well past the backlog bound, and `sink list` and `status` reading
 * the backlog, drops and last error it reports.
 */
import { stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardingOf } from '../../src/daemon/forwarding.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { processStartToken } from '../../src/lab/process.js';
import { newSinkState, readState, writeState } from '../../src/lab/state.js';
import { FORWARD_BACKLOG_BYTES } from '../../src/receiver/forward.js';
import { type CliProcess, runCli, serveUrl, startCli } from '../harness/cli.js';
import { eventList, makeEvent } from '../harness/events.js';
import { fakeToolsEnv, tempLab, type TempLab } from '../harness/lab.js';
import { post } from '../harness/receiver.js';
import { eventually } from '../harness/wait.js';

let lab: TempLab | null = null;
let serve: CliProcess | null = null;
afterEach(async () => {
  await serve?.stop();
  serve = null;
  await lab?.cleanup();
  lab = null;
});

/** A loopback port nothing listens on: taken from the system, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

interface Forwarding {
  backlogEvents: number;
  backlogBytes: number;
  backlogLimitBytes: number;
  sent: number;
  dropped: number;
  retries: number;
  lastError: { message: string; at: string } | null;
}

interface SinkRow {
  name: string;
  forwarding?: Forwarding | null;
}

describe('a forwarding sink as sink list and status show it', () => {
  it('reports the backlog within its bound, the events dropped from it and the last error, while the receiver runs', async () => {
    lab = await tempLab(undefined, 0);
    const port = await closedPort();
    const target = `https://127.0.0.1:${port}/audit`;
    const state = (await readState(lab.lab.paths))!;
    const out = newSinkState({
      name: 'out',
      level: 'RequestResponse',
      stages: ['ResponseComplete'],
      throttle: { qps: 10, burst: 15 },
      url: target,
    });
    await writeState(lab.lab.paths, { ...state, sinks: [...state.sinks, out] });
    const table = join(lab.home, 'tools.json');
    const tools = await fakeToolsEnv(table, { kind: [{ args: ['get', 'clusters'], stdout: '' }] });
    const env = { AUDIT_LAB_HOME: lab.home, ...tools };
    serve = startCli(['serve'], { env });
    const url = await serveUrl(serve);

    // About 1 MiB each, 13 to a request (the receiver takes 16 MiB at most): 91 MiB in all.
    const blob = 'x'.repeat(1024 * 1024);
    let fed = 0;
    for (let b = 0; b < 7; b++) {
      const batch = Array.from({ length: 13 }, (_, i) => ({
        ...makeEvent({ auditID: `e-${b}-${String(i).padStart(2, '0')}` }),
        requestObject: { kind: 'ConfigMap', apiVersion: 'v1', data: { blob } },
      }));
      const reply = await post(`${url}${STATIC_PATH}`, eventList(batch), {
        ca: lab.lab.pki.ca.cert,
        cert: lab.lab.pki.client,
      });
      expect(reply.status).toBe(200);
      fed += batch.length;
    }

    const listed = async (): Promise<SinkRow[]> => {
      const r = await runCli(['sink', 'list', '-o', 'json'], { env });
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { items: SinkRow[] }).items;
    };
    // The receiver reports from a timer: wait for the report that has every event and the error.
    let rows: SinkRow[] = [];
    const reported = await eventually(
      async () => {
        rows = await listed();
        const f = rows.find((r) => r.name === 'out')?.forwarding;
        return f != null && f.backlogEvents + f.dropped === fed && f.lastError !== null;
      },
      100,
      200,
    );
    expect(reported, JSON.stringify(rows)).toBe(true);
    const f = rows.find((r) => r.name === 'out')!.forwarding!;
    expect(f.backlogLimitBytes).toBe(FORWARD_BACKLOG_BYTES);
    expect(f.backlogBytes).toBeLessThanOrEqual(FORWARD_BACKLOG_BYTES);
    expect(f.backlogBytes).toBeGreaterThan(FORWARD_BACKLOG_BYTES - 2 * 1024 * 1024);
    expect(f.dropped).toBeGreaterThan(0);
    expect(f.sent).toBe(0);
    expect(f.lastError!.message).toContain('ECONNREFUSED');
    expect(Number.isNaN(Date.parse(f.lastError!.at))).toBe(false);
    expect(typeof f.retries).toBe('number');
    // The report is the lab's own file: private, like the state.
    expect((await stat(lab.lab.paths.forwarding)).mode & 0o777).toBe(0o600);
    // A sink that does not forward has nothing of the kind.
    expect(rows.find((r) => r.name === 'default')).not.toHaveProperty('forwarding');

    const json = await runCli(['status', '--json'], { env });
    expect(json.code).toBe(0);
    const st = (JSON.parse(json.stdout) as { sinks: SinkRow[] }).sinks.find((s) => s.name === 'out')!;
    expect(st.forwarding).toMatchObject({
      backlogEvents: f.backlogEvents,
      backlogBytes: f.backlogBytes,
      dropped: f.dropped,
      sent: 0,
    });
    expect(st.forwarding!.lastError!.message).toContain('ECONNREFUSED');

    const human = await runCli(['status'], { env });
    expect(human.stdout).toMatch(
      new RegExp(
        `^forward +out -> ${target.replace(/[.]/g, '\\.')}: backlog ${f.backlogEvents} \\(\\d+MiB/64MiB\\), ${f.dropped} dropped, \\d+ retries, last error: \\S+ .*ECONNREFUSED`,
        'm',
      ),
    );

    const wide = await runCli(['sink', 'list', '-o', 'wide'], { env });
    expect(wide.code).toBe(0);
    const [head, ...lines] = wide.stdout.trimEnd().split('\n');
    expect(head).toMatch(/TARGET\s+EVENTS\s+LAST EVENT\s+BACKLOG\s+DROPPED\s+RETRIES\s+LAST ERROR$/);
    expect(lines.find((l) => l.startsWith('out '))).toMatch(
      new RegExp(`\\s${f.backlogEvents} \\(\\d+MiB/64MiB\\)\\s+${f.dropped}\\s+\\d+\\s+\\S+ .*ECONNREFUSED`),
    );
    expect(lines.find((l) => l.startsWith('default '))).toMatch(/\s-\s+-\s+-\s+-$/);

    // Once the receiver stops, nothing is reported as current.
    await serve.stop();
    await expect(stat(lab.lab.paths.forwarding)).rejects.toThrow(/ENOENT/);
    const after = await listed();
    expect(after.find((r) => r.name === 'out')!.forwarding).toBeNull();
  });
});

describe('the forwarding report', () => {
  it('is shown only while the process that wrote it runs, and only for sinks the receiver forwards', async () => {
    lab = await tempLab(undefined, 0);
    const paths = lab.lab.paths;
    const state = (await readState(paths))!;
    const out = newSinkState({
      name: 'out',
      level: 'Metadata',
      stages: ['ResponseComplete'],
      throttle: { qps: 10, burst: 15 },
      url: 'https://127.0.0.1:9/audit',
    });
    const withOut = { ...state, sinks: [...state.sinks, out] };
    const counts = {
      url: out.url,
      queued: 3,
      sent: 1,
      batches: 1,
      dropped: 2,
      failedTries: 1,
      retries: 1,
      peakBytes: 30,
      backlogEvents: 0,
      backlogBytes: 0,
      backlogLimitBytes: 64,
      lastError: null,
    };
    const report = (started: string | null) =>
      writeFile(
        paths.forwarding,
        JSON.stringify({
          pid: process.pid,
          started,
          updatedAt: '2026-01-01T00:00:00.000Z',
          sinks: [{ sink: 'out', ...counts }],
        }),
      );

    await report(await processStartToken(process.pid));
    const live = await forwardingOf(paths, withOut);
    expect(live('out')).toEqual({ ...counts, updatedAt: '2026-01-01T00:00:00.000Z' });
    expect(live('default')).toBeUndefined();
    // In dynamic mode the AuditSink sends to its URL itself: the receiver forwards nothing.
    expect((await forwardingOf(paths, { ...withOut, mode: 'dynamic' }))('out')).toBeUndefined();

    // The same pid, another start time: a file from a receiver that is gone, its pid taken since.
    await report('proc:1');
    expect((await forwardingOf(paths, withOut))('out')).toBeNull();
  });
});
