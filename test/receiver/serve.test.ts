/**
 * `audit-lab serve` as a real process (the built CLI: run `npm run build` first; `npm test` does).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { streamFile } from '../../src/streams/names.js';
import { type CliProcess, serveUrl, startCli } from '../harness/cli.js';
import { eventList, makeEvent, readLines } from '../harness/events.js';
import { tempLab, type TempLab } from '../harness/lab.js';
import { post } from '../harness/receiver.js';

const procs: CliProcess[] = [];
let t: TempLab | null = null;
let blocker: Server | null = null;

afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop('SIGKILL');
  await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
  blocker = null;
  await t?.cleanup();
  t = null;
});

/** stderrFd: stderr goes to that file instead of a pipe, as for the background receiver. */
function serve(home: string, args: string[] = [], stderrFd?: number): CliProcess {
  const p = startCli(['serve', ...args], {
    env: { AUDIT_LAB_HOME: home },
    ...(stderrFd === undefined ? {} : { stderrFd }),
  });
  procs.push(p);
  return p;
}

const SINKS = [
  { name: 'default', level: 'Metadata' as const, stages: ['ResponseComplete' as const] },
  {
    name: 'full',
    level: 'RequestResponse' as const,
    stages: ['RequestReceived' as const, 'ResponseComplete' as const],
  },
];

describe('audit-lab serve (process)', () => {
  it('with port 0 in state, picks a free port, saves it, and stops cleanly on SIGTERM', async () => {
    t = await tempLab(SINKS, 0);
    const p = serve(t.home);
    const url = await serveUrl(p);
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    expect((await readState(t.lab.paths))!.receiver.port).toBe(port);
    const ev = makeEvent();
    const res = await post(`${url}${STATIC_PATH}`, eventList([ev]), { ca: t.lab.pki.ca.cert, cert: t.lab.pki.client });
    expect(res.status).toBe(200);
    expect(await p.stop()).toMatchObject({ code: 0, signal: null });
    expect(p.stderr).toMatch(/200 POST \/events 1 events .*default \+1, full \+1/);
    expect(p.stderr).toContain('receiver stopped');
    expect(await readLines(streamFile(t.lab.paths.streamsDir, 'default'))).toHaveLength(1);
  });

  it.for([
    { address: '0.0.0.0', warns: true },
    { address: '127.0.0.1', warns: false },
  ])('--address $address: warns that every interface is open: $warns', async ({ address, warns }) => {
    t = await tempLab(SINKS, 0);
    const p = serve(t.home, ['--address', address]);
    await serveUrl(p);
    expect((await p.stop()).code).toBe(0);
    expect(p.stderr.includes('the receiver listens on every interface (0.0.0.0)')).toBe(warns);
  });

  it('writes its log lines to receiver.log (0600) too, and only there when stderr already is that file (the background receiver)', async () => {
    t = await tempLab(SINKS, 0);
    const opts = { ca: t.lab.pki.ca.cert, cert: t.lab.pki.client };
    // Foreground: stderr is a pipe; the lines go to both.
    let p = serve(t.home);
    let url = await serveUrl(p);
    expect((await post(`${url}${STATIC_PATH}`, eventList([makeEvent()]), opts)).status).toBe(200);
    expect((await p.stop()).code).toBe(0);
    expect(p.stderr).toMatch(/200 POST \/events 1 events/);
    const log = t.lab.paths.receiverLog;
    expect((await readFile(log, 'utf8')).match(/200 POST \/events 1 events/g)).toHaveLength(1);
    expect((await stat(log)).mode & 0o777).toBe(0o600);
    // Background, as ensureReceiver starts it: stderr is receiver.log itself; each line lands once.
    const fd = openSync(log, 'a', 0o600);
    p = serve(t.home, [], fd);
    closeSync(fd);
    url = await serveUrl(p);
    expect((await post(`${url}${STATIC_PATH}`, eventList([makeEvent()]), opts)).status).toBe(200);
    expect((await p.stop()).code).toBe(0);
    const text = await readFile(log, 'utf8');
    expect(text.match(/200 POST \/events 1 events/g)).toHaveLength(2);
    expect(text.match(/receiver stopped/g)).toHaveLength(2);
  });

  it('names the port and the way out when the port is in use (exit 1)', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    t = await tempLab(SINKS, port);
    const p = serve(t.home);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(p.stderr).toContain('--port');
    expect((await readState(t.lab.paths))!.receiver.port).toBe(port);
  });

  it('loses no acknowledged event and stores none twice across a SIGKILL under load', async () => {
    t = await tempLab(SINKS, 0);
    const lab = t.lab;
    const opts = { ca: lab.pki.ca.cert, cert: lab.pki.client };
    let p = serve(t.home);
    let url = await serveUrl(p);

    const batches: { body: string; ids: string[] }[] = [];
    const acked = new Set<number>();
    let stop = false;
    let next = 0;
    let fortyAcked!: () => void;
    const forty = new Promise<void>((r) => (fortyAcked = r));
    const sender = async () => {
      while (!stop) {
        const i = next++;
        const evs = Array.from({ length: 50 }, (_, k) =>
          makeEvent({ auditID: randomUUID(), stage: k % 5 === 0 ? 'RequestReceived' : 'ResponseComplete' }),
        );
        batches[i] = { body: eventList(evs), ids: evs.map((e) => e.auditID as string) };
        try {
          const res = await post(`${url}${STATIC_PATH}`, batches[i]!.body, opts);
          if (res.status === 200) acked.add(i);
          if (acked.size >= 40) fortyAcked();
        } catch {
          // Connection cut by the kill: not acknowledged, so the sender will retry it.
        }
      }
    };
    const senders = Array.from({ length: 4 }, sender);
    await forty;
    expect((await p.stop('SIGKILL')).signal).toBe('SIGKILL');
    stop = true;
    await Promise.all(senders);
    const ackedBefore = acked.size;
    expect(ackedBefore).toBeLessThan(batches.length); // some were in flight when it died

    p = serve(t.home);
    url = await serveUrl(p);
    // The API server retries what was not acknowledged; resend a few acknowledged ones as well (a lost ack).
    const resend = batches.map((_, i) => i).filter((i) => !acked.has(i) || i % 7 === 0);
    for (const i of resend) {
      const res = await post(`${url}${STATIC_PATH}`, batches[i]!.body, opts);
      expect(res.status).toBe(200);
      acked.add(i);
    }
    expect((await p.stop()).code).toBe(0);

    const all = batches.flatMap((b) => b.ids);
    for (const sink of ['default', 'full']) {
      // readLines throws on a torn last line; JSON.parse on a torn inner one.
      const lines = await readLines(streamFile(lab.paths.streamsDir, sink));
      const keys = lines.map((l) => {
        const e = JSON.parse(l) as { auditID: string; stage: string };
        return `${e.auditID}/${e.stage}`;
      });
      expect(new Set(keys).size).toBe(keys.length);
      const ids = new Set(lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID));
      const want = sink === 'default' ? all.filter((_, k) => (k % 50) % 5 !== 0) : all;
      expect(ids.size).toBe(want.length);
      for (const id of want) expect(ids.has(id)).toBe(true);
    }
  });
});
