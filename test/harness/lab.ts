/**
 * Where a test's labs live: temp directories, a lab home with labs made on disk (state, sinks,
 * stream files, PKI), and the sandbox the lifecycle tests run the CLI in, with fake kind, kubectl
 * and docker on its PATH (test/lifecycle/fakes, answering from test/harness/tables.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, type TestContext } from 'vitest';
import type { Level, Stage } from '../../src/audit/model.js';
import { runningReceiver, stopReceiver } from '../../src/daemon/daemon.js';
import { ensureLab, type LabHandle } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import type { Mode } from '../../src/lab/mode.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { isAlive } from '../../src/lab/process.js';
import { type Capture, DEFAULT_SINK, newLabState, newSinkState, writeState } from '../../src/lab/state.js';
import { ensurePrivateDir, writeFileAtomic } from '../../src/lab/fsutil.js';
import { renderLabFiles } from '../../src/render/labFiles.js';
import { type CliProcess, type CliResult, ROOT, runCli, runProcess, startCli } from './cli.js';
import { FIXTURES } from './events.js';
import { fakeToolsPort } from './fakeTools.js';
import type { Table, ToolName } from './tables.js';

export { isAlive };

export async function tempDir(prefix = 'audit-lab-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A temp directory removed when the current test ends. */
export async function testDir(prefix?: string): Promise<string> {
  const { dir, cleanup } = await tempDir(prefix);
  onTestFinished(cleanup);
  return dir;
}

export async function tempHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'audit-lab-tail-'));
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

/** The time the labs made on disk were made at. */
export const NOW = new Date('2024-05-01T12:00:00Z');

/** A lab with sinks `default` (Metadata) and `secrets` (RequestResponse), and their streams directory. */
export async function makeLab(home: string, sinks = ['default', 'secrets']): Promise<LabPaths> {
  const paths = labPaths(home, 'audit-lab');
  const state = newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null, now: NOW });
  for (const name of sinks) {
    const spec =
      name === 'secrets'
        ? { level: 'RequestResponse' as const, stages: ['RequestReceived' as const, 'ResponseComplete' as const] }
        : {};
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

/**
 * The environment of a run against the labs in `home` that reads their stream files as they are:
 * colour left to the CLI (not forced either way), TZ=UTC, and AUDIT_LAB_NO_RECEIVER=1 (tail's and
 * top's test seam) so no run can start a real receiver, even through a bug.
 */
export function homeEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', NO_COLOR: undefined, TZ: 'UTC', ...extra };
}

/** Runs the CLI to its end (in this process: see runCli) against the labs in `home`, with homeEnv. */
export function runInHome(home: string, args: readonly string[], extra: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, { env: homeEnv(home, extra) });
}

/** The built CLI left running (tail following) against the labs in `home`; the caller stops it. */
export function startInHome(home: string, args: readonly string[], extra: NodeJS.ProcessEnv = {}): CliProcess {
  return startCli(args, { env: homeEnv(home, extra) });
}

export interface TempLab {
  home: string;
  lab: LabHandle;
  cleanup(): Promise<void>;
}

/** A lab with its PKI in a temp home; static mode unless `mode` says otherwise (each mode serves only its own endpoints). */
export async function tempLab(
  sinks?: { name: string; level: Level; stages: Stage[] }[],
  port?: number,
  mode?: Mode,
): Promise<TempLab> {
  const home = await mkdtemp(join(tmpdir(), 'audit-lab-recv-'));
  const paths = labPaths(home, 'audit-lab');
  let lab = await withLabLock(paths, 'test', () => ensureLab(paths));
  if (sinks || port !== undefined || mode !== undefined) {
    if (sinks) lab.state.sinks = sinks.map((s) => newSinkState({ ...s, throttle: { qps: 10, burst: 15 } }));
    if (port !== undefined) lab.state.receiver.port = port;
    if (mode !== undefined) lab.state.mode = mode;
    await writeState(paths, lab.state);
    lab = await ensureLab(paths);
  }
  return { home, lab, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** Stops a lab's background receiver (SIGKILL if SIGTERM was not enough) and removes the lab. */
export async function removeWithReceiver(t: TempLab): Promise<void> {
  // stopReceiver signals only the process the pid file names if it is still that one (its start
  // time): a pid a test left behind may name another test's process by now.
  await stopReceiver(t.lab.paths, { timeoutMs: 5000 });
  await t.cleanup();
}

const given = new Set<number>();

/**
 * A free loopback port for a receiver, below the kernel's ephemeral range (32768+), so no outgoing
 * connection of a concurrent test can take it between now and the receiver's listen, and above the
 * blocks labs look for their ports in (vitest.config.ts), so no new lab finds it taken.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 25_000 + Math.floor(Math.random() * 7_700);
    if (given.has(port)) continue;
    const free = await new Promise<boolean>((done) => {
      const srv = createServer();
      srv.once('error', () => done(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
    });
    if (free) {
      given.add(port);
      return port;
    }
  }
}

const FAKES = join(ROOT, 'test', 'lifecycle', 'fakes');

/**
 * The fake kind, kubectl and docker first on PATH (this process's PATH after them), answering from
 * `table`, written to `file` (no world, no call log): for a run outside a Sandbox.
 */
export async function fakeToolsEnv(file: string, table: Table): Promise<NodeJS.ProcessEnv> {
  await writeFile(file, JSON.stringify(table));
  const server = String(await fakeToolsPort());
  return { PATH: `${FAKES}:${process.env.PATH}`, FAKE_TOOLS_TABLE: file, FAKE_TOOLS_SERVER: server };
}

/** One call a fake tool answered, as its log has it. */
export interface Call {
  tool: ToolName;
  args: string[];
  stdin: string;
}

export type Result = CliResult;

/** Sandboxes made by this worker so far: each takes the next window of ports (sandboxFirstPort). */
let sandboxesMade = 0;

/**
 * Where a sandbox's labs look for receiver ports from: a window of 6 of this worker's ports
 * (ports.ts), after the 10 that labs made outside a sandbox start from, one window per sandbox in
 * turn. Labs made at the same moment in two sandboxes would otherwise both see the first port
 * free, and the second receiver to bind it fail.
 */
function sandboxFirstPort(): string | undefined {
  const first = Number(process.env.AUDIT_LAB_FIRST_PORT);
  if (!Number.isInteger(first)) return process.env.AUDIT_LAB_FIRST_PORT;
  return String(first + 10 + (sandboxesMade++ % 15) * 6);
}

/**
 * A sandbox for running the CLI against fake kind, kubectl and docker: a bin directory that is
 * the whole PATH (the fakes asked for, and node), a lab home, the fakes' table, world and call
 * log. The fakes ask this worker's fake tools server (fakeTools.ts) for their answers.
 */
export class Sandbox {
  readonly bin: string;
  readonly home: string;
  readonly tablePath: string;
  readonly worldPath: string;
  readonly logPath: string;
  /** AUDIT_LAB_FIRST_PORT of the runs here. */
  readonly firstPort = sandboxFirstPort();
  private constructor(
    readonly dir: string,
    /** The fake tools server's port (FAKE_TOOLS_SERVER). */
    private readonly fakeTools: number,
  ) {
    this.bin = join(dir, 'bin');
    this.home = join(dir, 'labs');
    this.tablePath = join(dir, 'table.json');
    this.worldPath = join(dir, 'world.json');
    this.logPath = join(dir, 'calls.jsonl');
  }

  /** tools: the fakes on PATH (a missing one is a tool "not installed"). */
  static async create(table: Table, tools: ToolName[] = ['kind', 'kubectl', 'docker']): Promise<Sandbox> {
    const sb = new Sandbox(await mkdtemp(join(tmpdir(), 'audit-lab-lifecycle-')), await fakeToolsPort());
    await mkdir(sb.bin);
    await symlink(process.execPath, join(sb.bin, 'node'));
    for (const t of tools) await symlink(join(FAKES, t), join(sb.bin, t));
    await sb.setTable(table);
    await writeFile(sb.logPath, '');
    return sb;
  }

  async setTable(table: Table): Promise<void> {
    await writeFile(this.tablePath, JSON.stringify(table, null, 1));
  }

  async setWorld(flags: Record<string, boolean>): Promise<void> {
    await writeFile(this.worldPath, JSON.stringify({ ...(await this.world()), ...flags }));
  }

  async world(): Promise<Record<string, boolean>> {
    if (!existsSync(this.worldPath)) return {};
    return JSON.parse(await readFile(this.worldPath, 'utf8')) as Record<string, boolean>;
  }

  /**
   * The environment of a run here. The API server's waits are short (AUDIT_LAB_APISERVER_PAUSE_MS,
   * AUDIT_LAB_POLL_MS), and no call to a fake is ever stopped for being slow
   * (AUDIT_LAB_READY_CALL_TIMEOUT_MS): a fake's answer, never the machine's load, decides a test.
   */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: this.bin,
      HOME: this.dir,
      AUDIT_LAB_HOME: this.home,
      AUDIT_LAB_FIRST_PORT: this.firstPort,
      NO_COLOR: '1',
      FAKE_TOOLS_TABLE: this.tablePath,
      FAKE_TOOLS_WORLD: this.worldPath,
      FAKE_TOOLS_LOG: this.logPath,
      FAKE_TOOLS_SERVER: String(this.fakeTools),
      AUDIT_LAB_APISERVER_PAUSE_MS: '50',
      AUDIT_LAB_POLL_MS: '20',
      AUDIT_LAB_READY_TIMEOUT_MS: '5000',
      AUDIT_LAB_READY_CALL_TIMEOUT_MS: '600000',
      AUDIT_LAB_RECEIVER_START_TIMEOUT_MS: '600000',
      ...extra,
    };
  }

  /** Runs the CLI to its end (in this process: see runCli) with this sandbox's PATH and lab home. */
  run(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
    return runCli(args, { env: this.env(extraEnv), cwd: this.dir });
  }

  /** run, as the built CLI in a process of its own (for what only a process shows). */
  runProcess(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
    return runProcess(args, { env: this.env(extraEnv), cwd: this.dir });
  }

  /** Starts the built CLI (serve, say) with this sandbox's PATH and lab home; the caller stops it. */
  start(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): CliProcess {
    return startCli(args, { env: this.env(extraEnv), cwd: this.dir });
  }

  async calls(tool?: ToolName): Promise<Call[]> {
    const text = await readFile(this.logPath, 'utf8');
    const all = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Call);
    return tool ? all.filter((c) => c.tool === tool) : all;
  }

  async clearCalls(): Promise<void> {
    await writeFile(this.logPath, '');
  }

  labDir(name = 'audit-lab'): string {
    return join(this.home, name);
  }

  /** The real receiver's pid (first line of the lab's receiver.pid). */
  async receiverPid(name = 'audit-lab'): Promise<number | null> {
    try {
      const pid = Number((await readFile(join(this.labDir(name), 'receiver.pid'), 'utf8')).split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  async cleanup(): Promise<void> {
    // Every lab the test made, whatever its name: a failed test must not leave a receiver running.
    // Only a receiver the pid file still names (same start time): its pid, once that receiver is
    // gone, may be another test's process by now.
    const labs = await readdir(this.home).catch(() => [] as string[]);
    for (const name of labs) {
      // Not every entry is a lab (labPaths throws on a name no lab can have).
      const receiver = await Promise.resolve()
        .then(() => runningReceiver(labPaths(this.home, name)))
        .catch(() => null);
      if (receiver === null) continue;
      try {
        process.kill(receiver.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    if (existsSync(`${this.logPath}.errors`)) process.stderr.write(readFileSync(`${this.logPath}.errors`, 'utf8'));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A sandbox removed when its test ends (the test's own hook: the tests run concurrently). */
export async function sandboxFor(t: TestContext, ...args: Parameters<typeof Sandbox.create>): Promise<Sandbox> {
  const sb = await Sandbox.create(...args);
  t.onTestFinished(() => sb.cleanup());
  return sb;
}

export function hasCall(calls: Call[], tool: ToolName, prefix: string[]): boolean {
  return calls.some((c) => c.tool === tool && prefix.every((p, i) => c.args[i] === p));
}

/** A call as its command line. */
export const callLine = (c: Call) => `${c.tool} ${c.args.join(' ')}`;

/** Asserts exit 0, showing what the CLI said when it was not. */
export function succeeded(r: Result): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r;
}

/** A lab as `up` leaves it: its state (in `mode`, with `capture`), PKI and rendered files, no cluster. */
export async function writeUpLab(paths: LabPaths, mode: Mode, capture: Capture): Promise<void> {
  const handle = await ensureLab(paths);
  const state = { ...handle.state, mode, capture, receiver: { ...handle.state.receiver, host: '127.0.0.1' } };
  if (mode === 'dynamic') Object.assign(state, { image: 'kindest/node:v1.18.19', kubernetesVersion: '1.18.19' });
  await writeState(paths, state);
  await ensurePrivateDir(paths.apiserverDir);
  for (const f of renderLabFiles(state, handle.pki, {
    mountDir: paths.apiserverDir,
    receiverHost: '127.0.0.1',
    hostCgroup: null,
  })) {
    const target =
      f.name === 'config.yaml'
        ? paths.kindConfig
        : f.name === 'audit.yaml'
          ? paths.auditSinks
          : join(paths.apiserverDir, f.name);
    await writeFileAtomic(target, f.content, f.mode);
  }
}
