/**
 * The CLI as tests run it: in this process through `run(argv, io)` (src/main.ts), which is what
 * most tests need and costs no node start-up; or as the built CLI in a process of its own, for
 * what only a process has (signals, its own exit, stdin, a terminal, the bin/ wrapper). Both take
 * the same options and give the same result.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Handlers } from '../../src/cli.js';
import type { IO } from '../../src/io.js';
import { run } from '../../src/main.js';
import { GUARD_MS } from './wait.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
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

/** `run(['status'])` with a status handler that throws `err`: the exit code and stderr main.ts makes of it. */
export async function failWith(err: unknown): Promise<{ code: number; stderr: string }> {
  const c = captureIO();
  const handlers = { status: async () => Promise.reject(err) } as unknown as Handlers;
  const code = await run(['status'], c.io, handlers);
  return { code, stderr: c.stderr() };
}

export interface CliOptions {
  /**
   * Laid over the base environment (this process's PATH and HOME, NO_COLOR=1, the run's port
   * range); a key set to undefined is removed from it.
   */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * A process only: SIGKILL after this long, for a command that would run until stopped if the
   * test's premise is wrong. In this process the test's own timeout is that guard.
   */
  timeoutMs?: number;
  /** A process only: an open file descriptor to write stderr to instead of a pipe (the background receiver's log). */
  stderrFd?: number;
}

/** How the CLI ended: `code` is null when a signal (`signal`) ended it (a process only). */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment a run gets: `base` with `env` laid over it, keys set to undefined removed (as spawn drops them). */
export function cliEnv(env: NodeJS.ProcessEnv = {}, base: NodeJS.ProcessEnv = baseEnv()): NodeJS.ProcessEnv {
  const all: NodeJS.ProcessEnv = { ...base, ...env };
  for (const k of Object.keys(all)) if (all[k] === undefined) delete all[k];
  return all;
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NO_COLOR: '1',
  AUDIT_LAB_FIRST_PORT: process.env.AUDIT_LAB_FIRST_PORT,
  AUDIT_LAB_RECEIVER_START_TIMEOUT_MS: process.env.AUDIT_LAB_RECEIVER_START_TIMEOUT_MS,
});

/**
 * What this process cannot give a run in it, which a process would have: the code reads the lab
 * home from AUDIT_LAB_HOME or os.homedir() (this process's HOME), and formats times in this
 * process's time zone.
 */
function inProcessProblem(env: NodeJS.ProcessEnv): string | null {
  const home = env.AUDIT_LAB_HOME ?? '';
  if (home === '' && env.HOME !== process.env.HOME) return `HOME=${env.HOME} without AUDIT_LAB_HOME`;
  if (env.TZ !== undefined && env.TZ !== process.env.TZ) return `TZ=${env.TZ}`;
  return null;
}

/**
 * Runs the CLI to its end in this process, `run(argv, io)` with the environment and working
 * directory a process would get (stdout and stderr are not terminals; there is no stdin). Use
 * runProcess for what needs a process of its own.
 */
export async function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const env = cliEnv(opts.env);
  const problem = inProcessProblem(env);
  if (problem !== null) throw new Error(`runCli ${args.join(' ')}: ${problem} needs a process of its own (runProcess)`);
  const c = captureIO(env, opts.cwd ?? ROOT);
  const code = await run(args, c.io);
  return { code, signal: null, stdout: c.stdout(), stderr: c.stderr() };
}

/** The built CLI as a running process, its output so far, and ways to await a line and to stop it. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  private waiters: (() => void)[] = [];
  /** Exited and its output read to the end (it may exit before its last output is read). */
  private closed = false;

  constructor(readonly child: ChildProcess) {
    const poke = () => {
      for (const w of [...this.waiters]) w();
    };
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      poke();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      poke();
    });
    this.exited = new Promise((resolvePromise, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        this.closed = true;
        resolvePromise({ code, signal, stdout: this.stdout, stderr: this.stderr });
        poke();
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves once `test` holds for the stream's text so far: with a RegExp, with its first group
   * (or the whole match); with a function, with the text. Rejects if the process ends first. The
   * bound only keeps a broken build from hanging the suite; nothing is measured.
   */
  waitFor(
    test: RegExp | ((text: string) => boolean),
    what = String(test),
    o: { stream?: 'stdout' | 'stderr'; limitMs?: number } = {},
  ): Promise<string> {
    const stream = o.stream ?? 'stdout';
    const found = (): string | null => {
      const text = this[stream];
      if (typeof test === 'function') return test(text) ? text : null;
      const m = test.exec(text);
      return m ? (m[1] ?? m[0]) : null;
    };
    return new Promise((resolvePromise, reject) => {
      const report = () => `\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`;
      const check = () => {
        const hit = found();
        if (hit !== null) {
          done();
          resolvePromise(hit);
        } else if (this.closed) {
          done();
          const how = this.child.exitCode ?? this.child.signalCode;
          reject(new Error(`the CLI exited (${how}) before ${what}${report()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`gave up waiting for ${what}${report()}`));
      }, o.limitMs ?? GUARD_MS);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** Sends `signal` (if it still runs) and resolves once it has exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/**
 * Starts the built CLI as a process, the way a user does. The caller stops it (not a test hook
 * here: vitest cannot tell which of several concurrent tests a global hook belongs to).
 */
export function startCli(args: readonly string[], opts: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cliEnv(opts.env),
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', opts.stderrFd ?? 'pipe'],
  });
  const cli = new CliProcess(child);
  if (opts.timeoutMs !== undefined) {
    const timer = setTimeout(() => void cli.stop('SIGKILL'), opts.timeoutMs);
    void cli.exited.finally(() => clearTimeout(timer)).catch(() => {});
  }
  return cli;
}

/** Runs the built CLI as a process to its end and returns what it printed and how it exited. */
export function runProcess(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return startCli(args, opts).exited;
}

/** The URL `serve` prints once it listens and stops cleanly on a signal. Rejects if it exits first. */
export function serveUrl(serve: CliProcess): Promise<string> {
  return serve.waitFor(/^(https:\/\/\S+)$/m, 'its URL');
}

export interface PtyOptions {
  /** The terminal's size (stty cols/rows); 80x24 by default. */
  cols?: number;
  rows?: number;
  /** Laid over the base environment as in CliOptions (NO_COLOR is not set: colour is the CLI's choice). */
  env?: NodeJS.ProcessEnv;
  /** SIGKILL after this long (GUARD_MS by default): a command that would run until stopped must not hang the suite. */
  timeoutMs?: number;
  /** Typed at the terminal as soon as it starts (e.g. "\u0003" for Ctrl-C). */
  input?: string;
}

/**
 * The built CLI run in a real pseudo-terminal (util-linux `script`), as a person at a terminal
 * runs it: stdout and stderr are that terminal, of the size asked for. Returns everything the
 * terminal showed, stdout and stderr interleaved, with its CRLF line ends made LF.
 */
export async function runInPty(
  args: string[],
  opts: PtyOptions = {},
): Promise<{ code: number | null; output: string }> {
  const pty = startInPty(args, opts);
  if (opts.input !== undefined) pty.type(opts.input);
  return pty.exited;
}

/** A CLI process in a pseudo-terminal: what it showed so far, a way to await a line and to type. */
export interface PtyProcess {
  output(): string;
  waitFor(test: RegExp, what?: string): Promise<string>;
  /** Writes to the terminal's input (what a user types: "\u0003" is Ctrl-C). */
  type(text: string): void;
  exited: Promise<{ code: number | null; output: string }>;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** runInPty, left running: for what a user does while it runs (Ctrl-C once a line is shown). */
export function startInPty(args: readonly string[], opts: PtyOptions = {}): PtyProcess {
  // Absolute paths: the test's env may set PATH to a directory of fakes (or to nothing).
  const stty = `/usr/bin/stty cols ${opts.cols ?? 80} rows ${opts.rows ?? 24}`;
  const command = `${stty}; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  // -q no banner, -e the command's exit code, -f flush at once; the typescript goes nowhere.
  const child = spawn('/usr/bin/script', ['-qefc', command, '/dev/null'], {
    env: cliEnv(opts.env, { ...baseEnv(), NO_COLOR: undefined, TERM: 'xterm' }),
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const cli = new CliProcess(child);
  const timer = setTimeout(() => void cli.stop('SIGKILL'), opts.timeoutMs ?? GUARD_MS);
  const normal = () => cli.stdout.replace(/\r\n/g, '\n');
  return {
    output: normal,
    waitFor: (test, what) => cli.waitFor((text) => test.test(text.replace(/\r\n/g, '\n')), what ?? String(test)),
    type: (text) => void child.stdin?.write(text),
    exited: cli.exited.then((r) => {
      clearTimeout(timer);
      return { code: r.code, output: normal() };
    }),
  };
}

/**
 * What a terminal of `cols` x `rows` shows after `output` (from the last time it was drawn, for
 * a full-screen program): a small model of the few sequences `top` writes: cursor home and
 * position, erase in line and below, CR, LF; line wrap off, as `top` sets it, so a character
 * written in the last column leaves the cursor there (the next one overwrites it, an erase takes
 * it). Other sequences (modes, colours) change nothing it shows.
 */
export function terminalScreen(output: string, cols: number, rows: number): string[] {
  const screen = Array.from({ length: rows }, () => Array<string>(cols).fill(' '));
  let row = 0;
  let col = 0;
  const erase = (r: number, from: number) => screen[r]!.fill(' ', from);
  for (const m of output.matchAll(/\u001b\[([?\d;]*)([A-Za-z])|\r|\n|[^\u001b\r\n]/gu)) {
    const [all, params, op] = m;
    if (op !== undefined) {
      const n = (params ?? '').split(';').map((p) => Number(p) || 0);
      if (op === 'H') {
        [row, col] = [Math.min(rows, Math.max(1, n[0] ?? 1)) - 1, Math.min(cols, Math.max(1, n[1] ?? 1)) - 1];
      } else if (op === 'K') erase(row, params === '2' ? 0 : col);
      else if (op === 'J') {
        erase(row, col);
        for (let r = row + 1; r < rows; r++) erase(r, 0);
      }
    } else if (all === '\r') col = 0;
    else if (all === '\n') row = Math.min(rows - 1, row + 1);
    else {
      screen[row]![col] = all;
      col = Math.min(cols - 1, col + 1);
    }
  }
  return screen.map((r) => r.join('').trimEnd());
}

/** An ANSI escape sequence's start: colour or cursor movement in output. */
export const ANSI = /\u001b\[/;
