/**
 * The README's ways to run audit-lab: `npm start -s --` keeps machine output clean, and
 * the global install from a clone (`npm ci && npm install -g "$(npm pack -s)"`) gives a working
 * `audit-lab` that needs neither the clone nor TypeScript. The install is `--offline`: the
 * dependencies are bundled in the packed tarball (package.json bundleDependencies, from the
 * node_modules `npm ci` made), so it needs no registry at all (run `npm run build` first).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

const run = promisify(execFile);
const FIXTURE = join(ROOT, 'test', 'fixtures', 'policy', 'audit.log');

it('`npm start -s -- status --json` prints only the JSON; without -s npm adds its banner', async () => {
  const home = await testDir();
  const env = { ...process.env, AUDIT_LAB_HOME: home, NO_COLOR: '1' };
  const quiet = await run('npm', ['start', '-s', '--', 'status', '--json'], { cwd: ROOT, env });
  expect(JSON.parse(quiet.stdout)).toMatchObject({ lab: { exists: false } });
  const loud = await run('npm', ['start', '--', 'status', '--json'], { cwd: ROOT, env });
  expect(loud.stdout).toMatch(/^\s*> audit-lab@\S+ start\n/);
});

it('the packed package installs globally without TypeScript and runs, presets included', async () => {
  const dir = await testDir();
  const prefix = join(dir, 'prefix');
  // --ignore-scripts: pack dist/ as built; prepare (tsc) is for clones, never for an install.
  const packed = await run('npm', ['pack', '-s', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
  const tarball = join(dir, packed.stdout.trim());
  await run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], {
    cwd: dir,
    timeout: 80_000,
  });
  const bin = join(prefix, 'bin', 'audit-lab');
  const env = { ...process.env, AUDIT_LAB_HOME: join(dir, 'labs'), NO_COLOR: '1' };
  expect((await run(bin, ['--version'], { cwd: dir, env })).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  const policy = await run(bin, ['policy', 'test', 'preset:recommended', '--events', FIXTURE, '-o', 'json'], {
    cwd: dir,
    env,
  });
  expect(JSON.parse(policy.stdout).results).toHaveLength(20);
});
