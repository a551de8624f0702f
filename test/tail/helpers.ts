/** Labs on disk and the built CLI as a process, for the tail tests. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { DEFAULT_SINK, newLabState, newSinkState, writeState } from '../../src/lab/state.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = join(ROOT, 'test/fixtures/events');
export const BIN = join(ROOT, 'bin/audit-lab.js');
export const NOW = new Date('2024-05-01T12:00:00Z');

export async function tempHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'audit-lab-tail-'));
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

/** A lab with sinks `default` (Metadata) and `secrets` (RequestResponse), and their streams directory. */
export async function makeLab(home: string, sinks = ['default', 'secrets']): Promise<LabPaths> {
  const paths = labPaths(home, 'audit-lab');
  const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null, now: NOW });
  for (const name of sinks) {
    const spec = name === 'secrets' ? { level: 'RequestResponse' as const, stages: ['RequestReceived' as const, 'ResponseComplete' as const] } : {};
    state.sinks.push(newSinkState({ ...DEFAULT_SINK, ...spec, name }, NOW));
  }
  await writeState(paths, state);
  await mkdir(paths.streamsDir, { recursive: true });
  return paths;
}

/** Copies test/fixtures/events/<fixture> into the lab as <sink>.log (or a rotated name). */
export async function putFixture(paths: LabPaths, fixture: string, file = fixture): Promise<void> {
  await copyFile(join(FIXTURES, fixture), join(paths.streamsDir, file));
}

export async function fixtureLines(fixture: string): Promise<string[]> {
  return (await readFile(join(FIXTURES, fixture), 'utf8')).split('\n').filter((l) => l !== '');
}

/** A fixture line made into a new event: another auditID (and optionally other fields). */
export function variant(line: string, auditID: string, patch: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...(JSON.parse(line) as object), auditID, ...patch });
}

export const ANSI = /\u001b\[/;

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's environment: the temp home, no colour forcing, and AUDIT_LAB_NO_RECEIVER=1 (tail's
 * test seam) so no test can start a real receiver, even through a bug in tail.
 */
function cliEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', ...extra };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return env;
}

/** Runs the built CLI to its end, stdout and stderr piped (so not a TTY). */
export function runCli(home: string, args: string[], extra: Record<string, string> = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(home, extra), cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The CLI left running (tail following), with its output so far and a way to wait for more. */
export class RunningCli {
  stdout = '';
  stderr = '';
  private readonly exited: Promise<Finished>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    const poke = () => {
      for (const w of this.waiters) w();
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      poke();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      poke();
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        poke();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  static start(home: string, args: string[], extra: Record<string, string> = {}): RunningCli {
    return new RunningCli(spawn(process.execPath, [BIN, ...args], { env: cliEnv(home, extra), cwd: ROOT }));
  }

  /**
   * Resolves once `test(stdout)` holds. The bound only keeps a broken build from hanging the
   * suite; nothing is measured.
   */
  waitFor(test: (stdout: string) => boolean, what: string, limitMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (test(this.stdout)) {
          done();
          resolve();
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`tail exited before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`gave up waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, limitMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  interrupt(): Promise<Finished> {
    this.child.kill('SIGINT');
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
