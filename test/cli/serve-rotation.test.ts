import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { readState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { type CliProcess, serveUrl, startCli } from '../harness/cli.js';
import { eventList, makeEvent, readLines } from '../harness/events.js';
import { tempLab, type TempLab } from '../harness/lab.js';
import { post } from '../harness/receiver.js';

let lab: TempLab | null = null;
let serve: CliProcess | null = null;
afterEach(async () => {
  await serve?.stop();
  serve = null;
  await lab?.cleanup();
  lab = null;
});

describe('serve --max-stream-size / --max-stream-files', () => {
  it('rotates each stream at the size, keeps that many old files, and saves both in the lab', async () => {
    lab = await tempLab([{ name: 'default', level: 'Metadata', stages: ['ResponseComplete'] }], 0);
    serve = startCli(['serve', '--max-stream-size', '0.004', '--max-stream-files', '2'], {
      env: { AUDIT_LAB_HOME: lab.home },
    });
    const url = await serveUrl(serve);

    const state = (await readState(lab.lab.paths))!;
    expect(state.streams).toEqual({ maxBytes: Math.round(0.004 * 1024 * 1024), maxBackups: 2 });

    // About 0.5 KB per stored line: 40 events fill the 4 KiB stream several times over.
    const ids: string[] = [];
    for (let b = 0; b < 8; b++) {
      const batch = Array.from({ length: 5 }, (_, i) => makeEvent({ level: 'Metadata', auditID: `e-${b}-${i}` }));
      ids.push(...batch.map((e) => e.auditID as string));
      const reply = await post(`${url}${STATIC_PATH}`, eventList(batch), {
        ca: lab.lab.pki.ca.cert,
        cert: lab.lab.pki.client,
      });
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
