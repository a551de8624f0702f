import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isSameProcess, processStartToken } from '../../src/lab/process.js';

describe('process identity (pid and start time)', () => {
  it('knows this process by its start token, and nothing by a wrong or missing one', async () => {
    const token = await processStartToken(process.pid);
    expect(token).not.toBeNull();
    expect(await isSameProcess(process.pid, token!)).toBe(true);
    expect(await isSameProcess(process.pid, `${token!}0`)).toBe(false);
    expect(await isSameProcess(process.pid, undefined)).toBe(false);
  });

  it('a process that exited is not the same process any more', async () => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const token = await processStartToken(child.pid!);
    await new Promise((r) => child.once('exit', r));
    expect(await isSameProcess(child.pid!, token ?? 'x')).toBe(false);
  });
});
