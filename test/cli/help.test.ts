/**
 * The help of every command, as a user reads it from the built CLI: each shows at least one
 * example, `audit-lab help X Y` prints what `audit-lab X Y --help` prints, and global flags are
 * declared once. The commands come from walking the commander program, and the walk is checked
 * against the commands `audit-lab --help` lists.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli.js';
import type { Handlers } from '../../src/commands/options.js';
import { captureIO, runCli } from '../helpers.js';

const program = buildProgram(captureIO().io, {} as Handlers, '0.0.0', () => {});
const walk = (cmd: Command, path: string[]): string[][] => [path, ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()]))];
const paths = walk(program, []);

describe('the help of every command', () => {
  it('walks every command `audit-lab --help` lists', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const listed = [...r.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    expect(listed.length).toBeGreaterThan(8);
    expect(paths.filter((p) => p.length === 1).map((p) => p[0])).toEqual(listed);
    // And the subcommands of sink and policy.
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['sink create', 'sink list', 'sink delete', 'policy test', 'completion', 'help']));
  });

  describe.concurrent.each(paths.map((p) => [p.join(' ') || '(audit-lab)', p] as const))('%s', (_label, path) => {
    it('--help shows an Examples: section with an `audit-lab ...` line', async () => {
      const r = await runCli([...path, '--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/\nExamples:\n(?: {2}.*\n)*? {2}\$ (source <\()?audit-lab\b.*/);
    });

    it('`help` with its name prints the same help', async () => {
      const [viaFlag, viaHelp] = await Promise.all([runCli([...path, '--help']), runCli(['help', ...path])]);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toBe(viaFlag.stdout);
    });
  });

  it('declares --name once, on the program, shown as a global option of every command', async () => {
    for (const cmd of walk(program, []).slice(1)) {
      let c: Command = program;
      for (const n of cmd) c = c.commands.find((x) => x.name() === n)!;
      expect(c.options.map((o) => o.long), cmd.join(' ')).not.toContain('--name');
    }
    const r = await runCli(['sink', 'create', '--help']);
    expect(r.stdout).toMatch(/Global Options:\n(?:.*\n)*? {2}--name <name> +lab and kind cluster name/);
  });

  it('sink create --help names preset:NAME', async () => {
    const r = await runCli(['sink', 'create', '--help']);
    expect(r.stdout).toContain('preset:NAME');
    expect(r.stdout).toMatch(/\$ audit-lab sink create \S+ --policy preset:recommended/);
  });

  it('help of an unknown command exits 2 and lists the commands there are', async () => {
    const r = await runCli(['help', 'sink', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'sink nope' (commands: create, list, delete)");
  });
});
