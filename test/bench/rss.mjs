// Running a command to its end for a benchmark: wall time and peak RSS, from GNU time (%M) when
// it is there, else from /proc/<pid>/status VmHWM polled. Shared by bench:top and bench:policy.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';

/**
 * Runs argv to its end. Its stdout is kept (`stdout`), or with `{ keepStdout: false }` only
 * counted (`stdoutBytes`), so a command that prints hundreds of MB is measured, not this script.
 */
export async function measure(argv, env, { keepStdout = true } = {}) {
  const rssFile = join(tmpdir(), `audit-lab-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const gnu = existsSync(GNU_TIME);
  const [cmd, ...args] = gnu ? [GNU_TIME, '-f', '%M', '-o', rssFile, ...argv] : argv;
  const t0 = performance.now();
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stdoutBytes = 0;
  let stderr = '';
  let hwm = 0;
  child.stdout.on('data', (d) => {
    stdoutBytes += d.length;
    if (keepStdout) stdout += d.toString('utf8');
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const poll = gnu
    ? undefined
    : setInterval(() => {
        try {
          hwm = Math.max(
            hwm,
            Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0),
          );
        } catch {
          // exited
        }
      }, 20);
  const code = await new Promise((r) => child.on('close', r));
  const wall = performance.now() - t0;
  clearInterval(poll);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${stderr}`);
  const rssKb = gnu ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : hwm;
  await rm(rssFile, { force: true });
  return {
    wall,
    rssMb: rssKb / 1024,
    stdout,
    stdoutBytes,
    how: gnu ? 'GNU time %M' : '/proc VmHWM polled every 20 ms',
  };
}
