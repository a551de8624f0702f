/**
 * The flag conventions as a user meets them in the built CLI: global flags anywhere on the line,
 * enum values in any case with the canonical value used, and a single-value flag given twice
 * refused by name (exit 2, no stack). test/unit/cli.test.ts holds the full argv -> options table.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

describe.concurrent('flags, as a process', () => {
  it('--name before the command is the same as after it', async () => {
    const home = await testDir();
    const before = await runCli(['--name', 'lab2', 'status', '--json'], { env: { AUDIT_LAB_HOME: home, PATH: home } });
    const after = await runCli(['status', '--json', '--name', 'lab2'], { env: { AUDIT_LAB_HOME: home, PATH: home } });
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout).lab.dir).toMatch(/\/lab2$/);
    expect(before.stdout).toBe(after.stdout);
  });

  it('takes enum values in any case and uses the canonical one', async () => {
    const home = await testDir();
    const r = await runCli(
      [
        'render',
        '--mode',
        'STATIC',
        '--sink',
        's',
        '--level',
        'request',
        '--stage',
        'responsecomplete',
        '--capture',
        'Sinks',
        '--host-cgroup',
        'V2',
        '--receiver-host',
        '172.18.0.1',
      ],
      { env: { AUDIT_LAB_HOME: home } },
    );
    // stderr carries notes (no lab yet): only not an error.
    expect(r.stderr).not.toMatch(/error|invalid/);
    expect(r.code).toBe(0);
    const policy = r.stdout.split('# ==> policy.yaml <==\n')[1]!.split('# ==>')[0]!;
    expect(policy).toMatch(/- level: Request\n/);
    expect(policy).not.toMatch(/request\b|responsecomplete/);
  });

  it('refuses a single-value flag given twice, naming it', async () => {
    const home = await testDir();
    const r = await runCli(['--name', 'a', 'status', '--name', 'b'], { env: { AUDIT_LAB_HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "error: option '--name <name>' was given more than once; it takes one value\n(run with --help for usage)\n",
    );
  });
});
