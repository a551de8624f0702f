/**
 * The help of every command, as a user reads it from the CLI (`run(argv, io)`): each shows at least one
 * example, `audit-lab help X Y` prints what `audit-lab X Y --help` prints, and global flags are
 * declared once. The commands come from walking the commander program, and the walk is checked
 * against the commands `audit-lab --help` lists.
 */
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, type Handlers } from '../../src/cli.js';
import { run } from '../../src/main.js';
import { layoutHelpText } from '../../src/ui/help.js';
import { captureIO, runCli } from '../harness/cli.js';

const program = buildProgram(captureIO().io, {} as Handlers, '0.0.0', () => {});
const walk = (cmd: Command, path: string[]): string[][] => [
  path,
  ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()])),
];
const paths = walk(program, []);

describe('the help of every command', () => {
  it('walks every command `audit-lab --help` lists', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const listed = [
      ...r.stdout
        .split('Commands:\n')[1]!
        .split('\n\n')[0]!
        .matchAll(/^ {2}(\S+)/gm),
    ].map((m) => m[1]);
    expect(listed.length).toBeGreaterThan(8);
    expect(paths.filter((p) => p.length === 1).map((p) => p[0])).toEqual(listed);
    // And the subcommands of sink and policy.
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['sink create', 'sink list', 'sink delete', 'policy test', 'completion', 'help']),
    );
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
      expect(
        c.options.map((o) => o.long),
        cmd.join(' '),
      ).not.toContain('--name');
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

describe('help laid out for the width it is printed at', () => {
  /** A command's help as printed to a terminal of `columns`. */
  async function helpAt(path: string[], columns: number): Promise<string> {
    let out = '';
    const io = { ...captureIO().io, stdout: { write: (t: string) => (out += t), isTTY: true, columns } };
    expect(await run([...path, '--help'], io, {} as Handlers)).toBe(0);
    return out;
  }

  it.each([60, 80, 100])("at %i columns no line of any command's help is wider", async (columns) => {
    for (const path of paths) {
      const help = await helpAt(path, columns);
      for (const line of help.split('\n'))
        expect(line.length, `${path.join(' ')}: ${line}`).toBeLessThanOrEqual(columns);
    }
  });

  it('notes and examples that fit are printed as written, their comments aligned by hand', () => {
    const text = '\nSome note.\n\nExamples:\n  $ audit-lab up          # one\n  $ audit-lab down --purge # two';
    expect(layoutHelpText(text, 80)).toBe(text);
  });

  it('a note broken by hand for a wider screen is wrapped again; a line that ends a sentence still ends one', () => {
    const text =
      'A target that cannot be met is said on stderr; the best policy is printed anyway, and the\nexit code is 0.\nAnother sentence.';
    expect(layoutHelpText(text, 50).split('\n')).toEqual([
      'A target that cannot be met is said on stderr; the',
      'best policy is printed anyway, and the exit code',
      'is 0.',
      'Another sentence.',
    ]);
  });

  it('an example too wide: its comment above it, the command continued with \\ between words (a quoted one whole, a flag with its value)', () => {
    const command = "audit-lab policy test policy.yaml --file audit.log -o jsonl | jq -c '{auditID, rule, level}'";
    const lines = layoutHelpText(`Examples:\n  $ ${command}   # one judged event per line`, 60).split('\n');
    expect(lines[1]).toBe('  # one judged event per line');
    expect(lines[2]).toMatch(/^ {2}\$ audit-lab policy test/);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(60);
    for (const l of lines.slice(2, -1)) expect(l).toMatch(/ \\$/);
    for (const l of lines.slice(3)) expect(l).toMatch(/^ {6}\S/);
    // What a shell reads: the same command.
    expect(
      lines
        .slice(2)
        .join('\n')
        .replace(/ \\\n +/g, ' ')
        .replace(/^ {2}\$ /, ''),
    ).toBe(command);
    expect(lines.some((l) => l.includes("'{auditID, rule, level}'") || l.includes("-c '{auditID, rule, level}'"))).toBe(
      true,
    );
    expect(lines.some((l) => /--file audit\.log/.test(l))).toBe(true);
  });
});
