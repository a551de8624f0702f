/**
 * The source's layers, as src/README.md's folder table lists them: a file imports its own folder
 * or the ones below it, never one above, and a command never imports another command. The order
 * is read from that table, so the README and this test cannot disagree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** The layers, top first: each row of the README's folder table, by its folders and files. */
function layers(): string[][] {
  const readme = readFileSync(join(SRC, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| folder |'));
  const rows = table.split('\n').filter((line) => line.startsWith('| `'));
  return rows.map((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, '')));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The relative modules a file imports, statically or with import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return found.map((spec) => relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
}

/** A file's unit: its folder, or the file itself at the top of src/. */
const unitOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path);

describe('the source layers', () => {
  const order = layers();
  const rank = new Map<string, number>(order.flatMap((units, i) => units.map((u) => [u, i] as const)));
  const files = sourceFiles(SRC).map((f) => relative(SRC, f));

  it('lists every folder and top-level file of src/ in the README table', () => {
    const units = [...new Set(files.map(unitOf))].sort();
    expect(units.filter((u) => !rank.has(u))).toEqual([]);
    expect(order.length).toBeGreaterThan(8);
  });

  it('has every import point down the table or within its own row', () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = rank.get(unitOf(file));
      for (const target of importsOf(join(SRC, file))) {
        const to = rank.get(unitOf(target));
        if (from === undefined || to === undefined || to < from) upward.push(`${file} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no command import another command: a declaration (tailCommand.ts) imports its own handler (tail.ts)', () => {
    const shared = new Set(['commands/context.ts', 'commands/flags.ts', 'commands/tools.ts']);
    const crossing: string[] = [];
    for (const file of files.filter((f) => f.startsWith('commands/') && !shared.has(f))) {
      const own = file.endsWith('Command.ts') ? file.slice(0, -'Command.ts'.length) : file.slice(0, -'.ts'.length);
      for (const target of importsOf(join(SRC, file))) {
        if (!target.startsWith('commands/') || shared.has(target)) continue;
        if (!target.startsWith(own)) crossing.push(`${file} -> ${target}`);
      }
    }
    expect(crossing).toEqual([]);
  });

  it('finds the imports it checks', () => {
    // A check that read no import would pass whatever the code did.
    expect(importsOf(join(SRC, 'main.ts'))).toContain('cli.ts');
    expect(files.length).toBeGreaterThan(100);
  });
});
