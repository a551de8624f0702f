import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { labPaths } from '../../src/lab/paths.js';
import { readFileNoFollow, refuseLabSymlinks, refuseSymlink, removeTree } from '../../src/lab/safety.js';
import { testDir } from '../harness/lab.js';

describe('links where the lab keeps its files', () => {
  it('refuseSymlink: a link is a UserError naming it; a missing path or a real one is fine', async () => {
    const dir = await testDir();
    await writeFile(join(dir, 'real'), 'x');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    await refuseSymlink(join(dir, 'missing'));
    await refuseSymlink(join(dir, 'real'));
    const err = await refuseSymlink(join(dir, 'link')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(`${join(dir, 'link')} is a symbolic link`);
  });

  it('refuseLabSymlinks: the lab home may be a link, the lab directory may not', async () => {
    const dir = await testDir();
    await mkdir(join(dir, 'real-home', 'lab'), { recursive: true });
    await symlink(join(dir, 'real-home'), join(dir, 'home'));
    await refuseLabSymlinks(labPaths(join(dir, 'home'), 'lab'));
    await symlink(join(dir, 'real-home', 'lab'), join(dir, 'real-home', 'other'));
    await expect(refuseLabSymlinks(labPaths(join(dir, 'home'), 'other'))).rejects.toThrow(UserError);
  });

  it('readFileNoFollow reads a file and refuses a link to one', async () => {
    const dir = await testDir();
    await writeFile(join(dir, 'key'), 'secret');
    await symlink(join(dir, 'key'), join(dir, 'link'));
    expect(await readFileNoFollow(join(dir, 'key'))).toBe('secret');
    await expect(readFileNoFollow(join(dir, 'link'))).rejects.toThrow(UserError);
    await expect(readFileNoFollow(join(dir, 'none'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removeTree lists what it removed and removes links, never their targets', async () => {
    const dir = await testDir();
    const lab = join(dir, 'lab');
    await mkdir(join(lab, 'a', 'b'), { recursive: true });
    await writeFile(join(lab, 'f'), '1');
    await writeFile(join(lab, 'a', 'b', 'g'), '2');
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'keep'), 'kept');
    await symlink(join(dir, 'outside'), join(lab, 'a', 'dirlink'));
    const r = await removeTree(lab);
    expect(r.entries).toEqual([`a${sep}`, join('a', 'b') + sep, join('a', 'b', 'g'), join('a', 'dirlink'), 'f']);
    expect(r.links).toEqual([join('a', 'dirlink')]);
    expect(await readFile(join(dir, 'outside', 'keep'), 'utf8')).toBe('kept');
  });
});
