/** Labs on disk and the built CLI as a process, for the tail tests. */
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { DEFAULT_SINK, newLabState, newSinkState, writeState } from '../../src/lab/state.js';
import { type CliOptions, type CliProcess, type CliResult, ROOT, runCli as run, startCli } from '../helpers.js';

export { ROOT };

export const FIXTURES = join(ROOT, 'test/fixtures/events');
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

/**
 * The CLI's environment: the temp home, colour left to the CLI (not forced either way), and
 * AUDIT_LAB_NO_RECEIVER=1 (tail's test seam) so no test can start a real receiver, even through a
 * bug in tail.
 */
function cliOptions(home: string, extra: Record<string, string>): CliOptions {
  return { env: { ...process.env, AUDIT_LAB_HOME: home, AUDIT_LAB_NO_RECEIVER: '1', NO_COLOR: undefined, FORCE_COLOR: undefined, TZ: 'UTC', ...extra } };
}

/** Runs the built CLI to its end, stdout and stderr piped (so not a TTY); killed after `timeoutMs` if given. */
export function runCli(home: string, args: string[], extra: Record<string, string> = {}, timeoutMs?: number): Promise<CliResult> {
  return run(args, { ...cliOptions(home, extra), timeoutMs });
}

/** The CLI left running (tail following); see CliProcess. */
export type RunningCli = CliProcess;
export const RunningCli = {
  start: (home: string, args: string[], extra: Record<string, string> = {}): CliProcess => startCli(args, cliOptions(home, extra)),
};
