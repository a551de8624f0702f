/**
 * `audit-lab completion bash|zsh|fish`. The bash script is sourced in a real bash process, which
 * calls the function it registered the way readline would (COMP_WORDS, COMP_CWORD, COMP_LINE,
 * COMP_POINT set, COMPREPLY printed); that function runs the built CLI's `__complete` through an
 * `audit-lab` on PATH, against labs in a temp AUDIT_LAB_HOME. zsh and fish are not installed
 * on this project's machine: their scripts are checked for structure (no test is skipped for a
 * missing shell).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, runProcess } from '../harness/cli.js';
import { tempDir } from '../harness/lab.js';

/** A lab home with labs alpha (sinks default, secrets) and beta, and two directories that are not labs. */
async function labHome(dir: string): Promise<string> {
  const home = join(dir, 'home');
  const lab = async (name: string, sinks: string[]) => {
    await mkdir(join(home, name), { recursive: true });
    await writeFile(
      join(home, name, 'state.json'),
      JSON.stringify({
        version: 1,
        name,
        sinks: sinks.map((s) => ({ name: s, level: 'Metadata', stages: ['ResponseComplete'] })),
      }),
    );
  };
  await lab('alpha', ['default', 'secrets']);
  await lab('beta', ['only-beta']);
  await mkdir(join(home, 'not-a-lab'), { recursive: true });
  await mkdir(join(home, 'Bad_Name'), { recursive: true });
  await writeFile(join(home, 'Bad_Name', 'state.json'), '{}');
  return home;
}

/** What bash completes for each line (the cursor at its end), by the function `completion bash` registered. */
async function bashCompletes(lines: string[]): Promise<Map<string, string[]>> {
  const { dir, cleanup } = await tempDir();
  try {
    const home = await labHome(dir);
    // `audit-lab` on PATH, as an installed CLI is: the script calls it by that name.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'audit-lab'),
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`,
    );
    await chmod(join(bin, 'audit-lab'), 0o755);
    const script = await runCli(['completion', 'bash']);
    expect(script.code).toBe(0);
    await writeFile(join(dir, 'audit-lab.bash'), script.stdout);
    // A file for file-name completion, in the directory bash runs in.
    const cwd = join(dir, 'work');
    await mkdir(cwd);
    await writeFile(join(cwd, 'policy-file.yaml'), '');
    const driver = `
source ${JSON.stringify(join(dir, 'audit-lab.bash'))}
fn=$(complete -p audit-lab | sed -E 's/.*-F ([^ ]+) .*/\\1/')
complete_line() {
  COMP_LINE=$1
  COMP_POINT=\${#1}
  read -ra COMP_WORDS <<< "$1"
  [[ $1 == *' ' ]] && COMP_WORDS+=('')
  COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  "$fn" audit-lab "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
  printf '>>> %s\\n' "$1"
  printf '%s\\n' "\${COMPREPLY[@]}"
}
${lines.map((l) => `complete_line ${JSON.stringify(l)}`).join('\n')}
`;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', driver], {
      cwd,
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, AUDIT_LAB_HOME: home },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = new Map<string, string[]>();
    let current: string[] = [];
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('>>> ')) out.set(line.slice(4), (current = []));
      else if (line !== '') current.push(line);
    }
    return out;
  } finally {
    await cleanup();
  }
}

describe('completion bash, sourced in bash', () => {
  const cases: [string, string[]][] = [
    ['audit-lab sink cr', ['create']],
    ['audit-lab --name ', ['alpha', 'beta']],
    ['audit-lab status --name ', ['alpha', 'beta']],
    ['audit-lab tail --name b', ['beta']],
    ['audit-lab tail --name alpha --sink ', ['default', 'secrets']],
    ['audit-lab --name beta sink delete ', ['only-beta']],
    ['audit-lab sink delete ', []],
    [
      'audit-lab ',
      [
        'up',
        'down',
        'sink',
        'tail',
        'top',
        'ui',
        'serve',
        'status',
        'doctor',
        'list',
        'render',
        'policy',
        'version',
        'completion',
        'help',
      ],
    ],
    ['audit-lab sink ', ['create', 'list', 'delete']],
    ['audit-lab help sink ', ['create', 'list', 'delete']],
    ['audit-lab tail --st', ['--stage']],
    ['audit-lab tail --stage Response', ['ResponseStarted', 'ResponseComplete']],
    ['audit-lab top --by u', ['user', 'useragent']],
    ['audit-lab up --mode ', ['auto', 'static', 'dynamic']],
    ['audit-lab sink create full --level Req', ['Request', 'RequestResponse']],
    ['audit-lab completion ', ['bash', 'zsh', 'fish']],
    ['audit-lab status --', ['--output', '--json', '--name', '--help']],
    ['audit-lab status -o ', ['json', 'yaml', 'wide', 'name']],
    ['audit-lab render --out pol', ['policy-file.yaml']],
  ];
  let got: Map<string, string[]>;
  beforeAll(async () => {
    got = await bashCompletes(cases.map(([line]) => line));
  }, 60_000);

  it.each(cases)('%j completes to %j', (line, expected) => {
    expect(got.get(line)).toEqual(expected);
  });
});

describe('completion zsh and fish', () => {
  it('zsh: a #compdef function that asks __complete with the words up to the cursor, files through _files', async () => {
    const r = await runCli(['completion', 'zsh']);
    expect(r.code).toBe(0);
    const s = r.stdout;
    expect(s.split('\n')[0]).toBe('#compdef audit-lab');
    expect(s).toMatch(/^_audit_lab\(\) \{\n[\s\S]*\n\}\n/m);
    expect(s).toContain('audit-lab __complete "${(@)words[2,CURRENT]}"');
    expect(s).toContain('_files');
    expect(s).toContain('compadd -a candidates');
    expect(s).toMatch(/compdef _audit_lab audit-lab/);
    // Balanced: every block opened is closed.
    expect(s.match(/\{/g)?.length).toBe(s.match(/\}/g)?.length);
    expect(s.match(/\bif\b/g)?.length).toBe(s.match(/\bfi\b/g)?.length);
  });

  it('fish: a function that asks __complete with the tokens and the current one, registered for audit-lab', async () => {
    const r = await runCli(['completion', 'fish']);
    expect(r.code).toBe(0);
    const s = r.stdout;
    expect(s).toMatch(/^function __audit_lab_complete\n[\s\S]*\nend\n/m);
    expect(s).toContain('audit-lab __complete $tokens "$cur"');
    expect(s).toContain("complete -c audit-lab -f -a '(__audit_lab_complete)'");
    // fish closes function and if blocks with `end`.
    expect(s.match(/^\s*(function|if)\b/gm)?.length).toBe(s.match(/^\s*end$/gm)?.length);
  });

  it('bash -n parses the bash script', async () => {
    const r = await runCli(['completion', 'bash']);
    const check = spawnSync('bash', ['-n'], { input: r.stdout, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('__complete stays light and quiet', () => {
  it('loads neither yaml, execa, the server nor x509, and prints only candidates', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const home = await labHome(dir);
      const record = join(dir, 'modules.txt');
      const hook = join(ROOT, 'test', 'fixtures', 'hooks', 'record-modules.mjs');
      const r = await runProcess(['__complete', 'tail', '--name', 'alpha', '--sink', ''], {
        env: { AUDIT_LAB_HOME: home, RECORD_MODULES: record, NODE_OPTIONS: `--import ${hook}` },
      });
      expect(r).toMatchObject({ code: 0, stdout: 'default\nsecrets\n', stderr: '' });
      const modules = (await readFile(record, 'utf8')).split('\n');
      // The hook saw what __complete uses.
      expect(modules).toContain(`file://${join(ROOT, 'dist', 'lab', 'labs.js')}`);
      expect(
        modules.filter((m) => /node_modules\/(yaml|execa|@peculiar|ora)\/|dist\/(receiver|daemon|tools)\//.test(m)),
      ).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
