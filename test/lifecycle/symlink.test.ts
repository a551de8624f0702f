/**
 * Links where a lab keeps its own files are refused (exit 2, the path named) before anything is
 * read, written or deleted through them; `down --purge` says exactly what it removed. Through
 * `run(argv, io)`. Build first: `npm run build`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test, type TestContext } from 'vitest';
import { ensureLab } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { type Result, Sandbox } from '../harness/lab.js';
import { healthyTable } from '../harness/tables.js';

const SLOW = { timeout: 120_000 };

async function labSandbox(t: TestContext): Promise<{ sb: Sandbox; paths: LabPaths }> {
  const sb = await Sandbox.create(healthyTable());
  t.onTestFinished(() => sb.cleanup());
  const paths = labPaths(sb.home, 'audit-lab');
  await withLabLock(paths, 'test', () => ensureLab(paths));
  await mkdir(paths.streamsDir, { mode: 0o700 });
  await writeFile(join(paths.streamsDir, 'default.log'), '{"auditID":"a"}\n');
  return { sb, paths };
}

function refused(r: Result, path: string): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
  expect(r.stderr).toContain(`${path} is a symbolic link`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** Every file under dir, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true })) as string[]).sort();
}

describe.concurrent('links in the lab', () => {
  test(
    'a lab directory that is a link: down --purge, down, status, serve and up refuse it and touch nothing',
    SLOW,
    async (t) => {
      const { sb, paths } = await labSandbox(t);
      const real = join(sb.dir, 'real-lab');
      await rename(paths.dir, real);
      await symlink(real, paths.dir);
      const before = await tree(real);

      for (const args of [['down', '--purge'], ['down'], ['status'], ['serve', '--port', '0'], ['up']]) {
        refused(await sb.run(args), paths.dir);
      }
      expect(existsSync(paths.dir)).toBe(true);
      expect(await tree(real)).toEqual(before);
    },
  );

  for (const sub of ['pki', 'streams', 'apiserver'] as const) {
    test(`a lab whose ${sub}/ is a link: down --purge and status refuse it, and its target stays`, SLOW, async (t) => {
      const { sb, paths } = await labSandbox(t);
      const inLab = join(paths.dir, sub);
      const real = join(sb.dir, `real-${sub}`);
      await mkdir(inLab, { recursive: true });
      await writeFile(join(inLab, 'keep'), 'mine\n');
      await rename(inLab, real);
      await symlink(real, inLab);

      refused(await sb.run(['down', '--purge']), inLab);
      refused(await sb.run(['status']), inLab);
      expect(existsSync(join(paths.dir, 'state.json'))).toBe(true);
      expect(await readFile(join(real, 'keep'), 'utf8')).toBe('mine\n');
    });
  }

  test('state.json that is a link is refused', SLOW, async (t) => {
    const { sb, paths } = await labSandbox(t);
    const real = join(sb.dir, 'real-state.json');
    await rename(paths.state, real);
    await symlink(real, paths.state);
    refused(await sb.run(['status']), paths.state);
    refused(await sb.run(['down', '--purge']), paths.state);
    expect(existsSync(real)).toBe(true);
  });

  test(
    'down --purge lists exactly what it removed; a link inside is removed as a link, its target kept',
    SLOW,
    async (t) => {
      const { sb, paths } = await labSandbox(t);
      const outside = join(sb.dir, 'outside.log');
      await writeFile(outside, "not the lab's\n");
      await symlink(outside, join(paths.streamsDir, 'other.log'));
      const there = await tree(paths.dir);

      const r = await sb.run(['down', '--purge']);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(paths.dir)).toBe(false);
      expect(await readFile(outside, 'utf8')).toBe("not the lab's\n");
      const listed = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) =>
          l
            .trim()
            .replace(/ \(a symbolic link: removed the link, not its target\)$/, '')
            .replace(/\/$/, ''),
        );
      // Plus the lock that down itself held while it purged.
      expect(listed.sort()).toEqual([...there, 'lock'].sort());
      expect(r.stdout).toContain(`purged ${paths.dir}: removed ${there.length + 1} entries`);
      expect(r.stdout).toContain('  streams/other.log (a symbolic link: removed the link, not its target)');
      expect(r.stdout).toContain('  pki/ca.key');
      expect(r.stdout).toContain('  streams/default.log');
    },
  );
});
