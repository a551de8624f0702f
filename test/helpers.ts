import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';
import type { IO } from '../src/io.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const BIN = join(ROOT, 'bin', 'audit-lab.js');

export interface Captured {
  io: IO;
  stdout: () => string;
  stderr: () => string;
}

/** An IO whose streams are strings, for calling run() in-process. */
export function captureIO(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Captured {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => (out += s), isTTY: false },
      stderr: { write: (s: string) => (err += s), isTTY: false },
      env,
      cwd,
    },
    stdout: () => out,
    stderr: () => err,
  };
}

export async function tempDir(prefix = 'audit-lab-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temp directory removed when the current test ends. */
export async function testDir(prefix?: string): Promise<string> {
  const { dir, cleanup } = await tempDir(prefix);
  onTestFinished(cleanup);
  return dir;
}

/**
 * Runs the built CLI as a process, the way a user does. `timeoutMs` kills it (SIGKILL) if it is
 * still running then, for commands that would run until stopped if the test's premise is wrong.
 */
export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...opts.env }, cwd: opts.cwd ?? ROOT, maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 0, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}
