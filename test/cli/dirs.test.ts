import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runProcess, serveUrl, startCli } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** A directory that exists before the command, readable by everyone. */
async function openDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o755);
  return path;
}

describe('directories audit-lab did not make keep their mode (as a process)', () => {
  it('render --out into an existing 0755 directory: stays 0755; the keys go into the private directories render makes in it', async () => {
    const dir = await testDir();
    const out = await openDir(join(dir, 'shared'));
    const r = await runProcess(['render', '--mode', 'static', '--out', out, '--receiver-host', '127.0.0.1'], {
      env: { AUDIT_LAB_HOME: join(dir, 'labs') },
    });
    expect(r.code).toBe(0);
    expect(await modeOf(out)).toBe(0o755);
    expect(await modeOf(join(out, 'apiserver'))).toBe(0o700);
    expect(await modeOf(join(out, 'apiserver', 'webhook.kubeconfig'))).toBe(0o600);
    expect(await modeOf(join(out, 'pki'))).toBe(0o700);
    expect(await modeOf(join(out, 'pki', 'ca.key'))).toBe(0o600);
    expect(r.stderr).not.toContain('warning:');
  });

  it.each([
    ['apiserver', 'webhook.kubeconfig'],
    ['pki', 'ca.key'],
  ])('render --out with an existing open %s/: a warning names it and the key in it, and only it', async (sub, key) => {
    const dir = await testDir();
    const out = join(dir, 'mine');
    await openDir(join(out, sub));
    await chmod(out, 0o700);
    const r = await runProcess(['render', '--mode', 'static', '--out', out, '--receiver-host', '127.0.0.1'], {
      env: { AUDIT_LAB_HOME: join(dir, 'labs') },
    });
    expect(r.code).toBe(0);
    expect(await modeOf(join(out, sub))).toBe(0o755);
    expect(r.stderr).toContain(`warning: ${join(out, sub)} is open to other users (mode 0755)`);
    expect(r.stderr).toContain(key);
    expect(r.stderr.match(/warning:/g)).toHaveLength(1);
  });

  it('render --out into new directories makes each of them 0700 and warns about nothing', async () => {
    const dir = await testDir();
    const out = join(dir, 'new', 'nested');
    const r = await runProcess(
      ['render', '--mode', 'static', '--out', out, '--receiver-host', '127.0.0.1', '--host-cgroup', 'v2'],
      { env: { AUDIT_LAB_HOME: join(dir, 'labs') } },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(await modeOf(join(dir, 'new'))).toBe(0o700);
    expect(await modeOf(out)).toBe(0o700);
    expect(await modeOf(join(out, 'pki'))).toBe(0o700);
  });

  it('an existing AUDIT_LAB_HOME keeps its mode, even when the command fails; the lab made in it is 0700', async () => {
    const dir = await testDir();
    const home = await openDir(join(dir, 'home'));
    // A port in use: serve fails before it makes anything.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as { port: number }).port;
    const r = await runProcess(['serve', '--address', '127.0.0.1', '--port', String(port)], {
      env: { AUDIT_LAB_HOME: home },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already in use');
    expect(await modeOf(home)).toBe(0o755);
    expect(await readdir(home)).toEqual([]);

    const serve = startCli(['serve', '--address', '127.0.0.1', '--port', '0'], { env: { AUDIT_LAB_HOME: home } });
    await serveUrl(serve);
    expect((await serve.stop()).code).toBe(0);
    expect(await modeOf(home)).toBe(0o755);
    expect(await modeOf(join(home, 'audit-lab'))).toBe(0o700);
    expect(await modeOf(join(home, 'audit-lab', 'pki'))).toBe(0o700);
  });
});
