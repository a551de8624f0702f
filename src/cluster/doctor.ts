/** `doctor`: the checks of the lab's provider (kind's, or the binaries'), and its certificates when there is a lab. */
import type { ReceiverControl } from '../daemon/control.js';
import type { LabPaths } from '../lab/paths.js';
import { type LabState, providerOf, readState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { type CheckReport, checkPki, runChecks } from './checks.js';

export interface DoctorReport extends CheckReport {
  /** The lab's state, null when there is no lab. */
  state: LabState | null;
}

/** `doctor`: the checks, and the lab's certificates when there is a lab. */
export async function doctorReport(
  paths: LabPaths,
  tools: Tools,
  receiver: ReceiverControl | null,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DoctorReport> {
  const state = await readState(paths);
  const report =
    state !== null && providerOf(state) === 'binary'
      ? await (await import('./binaryChecks.js')).binaryChecks(paths, state, tools, receiver, env)
      : await runChecks({ tools, paths, receiver, state });
  if (state !== null) {
    report.findings.push(await checkPki(paths));
    report.ok = report.findings.every((f) => f.status !== 'fail');
  }
  return { ...report, state };
}
