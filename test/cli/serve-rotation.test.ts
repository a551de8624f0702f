import { type ChildProcess, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { readState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { eventList, makeEvent, post, readLines, tempLab, type TempLab } from '../receiver/helpers.js';
import { BIN } from '../helpers.js';

let lab: TempLab | null = null;
let child: ChildProcess | null = null;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  child = null;
  await lab?.cleanup();
  lab = null;
});

describe('serve --max-stream-size / --max-stream-files', () => {
  it('rotates each stream at the size, keeps that many old files, and saves both in the lab', async () => {
    lab = await tempLab([{ name: 'default', level: 'Metadata', stages: ['ResponseComplete'] }], 0);
    child = spawn(process.execPath, [BIN, 'serve', '--max-stream-size', '0.004', '--max-stream-files', '2'], {
      env: { ...process.env, AUDIT_LAB_HOME: lab.home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    for (let i = 0; i < 200 && !/^https:\/\//m.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const url = /^(https:\/\/\S+)$/m.exec(out)?.[1];
    expect(url).toBeDefined();

    const state = (await readState(lab.lab.paths))!;
    expect(state.streams).toEqual({ maxBytes: Math.round(0.004 * 1024 * 1024), maxBackups: 2 });

    // About 0.5 KB per stored line: 40 events fill the 4 KiB stream several times over.
    const ids: string[] = [];
    for (let b = 0; b < 8; b++) {
      const batch = Array.from({ length: 5 }, (_, i) => makeEvent({ level: 'Metadata', auditID: `e-${b}-${i}` }));
      ids.push(...batch.map((e) => e.auditID as string));
      const reply = await post(`${url}${STATIC_PATH}`, eventList(batch), { ca: lab.lab.pki.ca.cert, cert: lab.lab.pki.client });
      expect(reply.status).toBe(200);
    }
    const files = (await readdir(lab.lab.paths.streamsDir)).sort();
    expect(files).toEqual(['default.log', 'default.log.1', 'default.log.2']);
    const kept = [
      ...(await readLines(`${lab.lab.paths.streamsDir}/default.log.2`)),
      ...(await readLines(`${lab.lab.paths.streamsDir}/default.log.1`)),
      ...(await readLines(`${lab.lab.paths.streamsDir}/default.log`)),
    ].map((l) => JSON.parse(l).auditID as string);
    // What is kept is the newest events, in order, each once.
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(ids.length);
    expect(kept).toEqual(ids.slice(ids.length - kept.length));
  });
});
