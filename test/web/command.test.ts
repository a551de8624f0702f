/**
 * `audit-lab ui` as a user runs it: the built CLI in its own process prints the URL with the
 * token, answers on it, and stops on SIGTERM or SIGINT with exit 0; a lab that does not exist, or
 * a port that is taken, is the user's mistake (exit 2) and nothing listens.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { makeContext } from '../../src/commands/context.js';
import { ui as uiHandler } from '../../src/commands/ui.js';
import { browserArgv } from '../../src/tools/browser.js';
import { captureIO } from '../harness/cli.js';
import { freePort, makeLab, putFixture, runInHome, startInHome, testDir } from '../harness/lab.js';
import { get } from './client.js';

describe('audit-lab ui', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('prints its URL, serves the lab on it, and stops on %s', async (signal) => {
    const home = await testDir();
    const paths = await makeLab(home);
    await putFixture(paths, 'default.log');
    const port = await freePort();
    const ui = startInHome(home, ['ui', '--port', String(port)]);
    try {
      const url = await ui.waitFor(/^audit-lab ui: (http:\/\/\S+)$/m, 'its URL');
      const token = new URL(url).searchParams.get('token')!;
      expect(url).toBe(`http://127.0.0.1:${port}/?token=${token}`);
      const signIn = await get(port, `/?token=${token}`);
      expect(signIn.status).toBe(303);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
      const meta = await get(port, '/api/meta', { Cookie: cookie });
      expect(meta.status).toBe(200);
      expect(JSON.parse(meta.body)).toMatchObject({
        lab: 'audit-lab',
        source: 'lab',
        mode: 'static',
        sinks: [
          { name: 'default', level: 'Metadata' },
          { name: 'secrets', level: 'RequestResponse' },
        ],
        presets: ['metadata', 'recommended', 'request-response'],
      });
      expect((await get(port, '/api/meta')).status).toBe(401);
    } finally {
      const r = await ui.stop(signal);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('refuses a lab that does not exist, and a port that is taken, with exit 2', async () => {
    const home = await testDir();
    const none = await runInHome(home, ['--name', 'nolab', 'ui', '--no-open', '--port', String(await freePort())]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    await makeLab(home);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await runInHome(home, ['ui', '--no-open', '--port', String(port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`port ${port} is taken`);
    } finally {
      taken.close();
    }
  });

  it('opens a browser only at a terminal and without --no-open, with open or xdg-open and the URL as one argument', async () => {
    expect(browserArgv('http://127.0.0.1:1/?token=x', 'darwin')).toEqual(['open', 'http://127.0.0.1:1/?token=x']);
    expect(browserArgv('http://127.0.0.1:1/?token=x', 'linux')).toEqual(['xdg-open', 'http://127.0.0.1:1/?token=x']);
    const home = await testDir();
    await makeLab(home);
    for (const [tty, open, expected] of [
      [true, true, 1],
      [true, false, 0],
      [false, true, 0],
    ] as const) {
      const c = captureIO({ AUDIT_LAB_HOME: home });
      c.io.stdout.isTTY = tty;
      const opened: string[] = [];
      const stop = new AbortController();
      const done = uiHandler({ name: 'audit-lab', open, files: [], port: await freePort() }, makeContext(c.io), {
        interrupt: stop.signal,
        openUrl: async (url) => {
          opened.push(url);
          return true;
        },
        onListening: () => stop.abort(),
      });
      expect(await done).toBe(0);
      expect(opened.length, `tty ${tty}, open ${open}`).toBe(expected);
      if (expected === 1) expect(c.stdout()).toContain(`audit-lab ui: ${opened[0]}`);
    }
  });
});
