/**
 * `doctor` on a lab whose control plane runs as binaries: kubectl, the binaries (there, or what
 * `up` would download), the receiver's port and the control plane's. No Docker, no kind.
 */
import { planBinaries } from '../controlplane/binaries.js';
import { controlPlaneFiles } from '../controlplane/pki.js';
import { findRunning } from '../controlplane/supervise.js';
import { UserError } from '../errors.js';
import type { ReceiverControl } from '../daemon/control.js';
import type { LabPaths } from '../lab/paths.js';
import { probePort } from '../lab/ports.js';
import type { LabState } from '../lab/state.js';
import type { Tools } from '../tools/index.js';
import { componentPorts } from './binaryPlane.js';
import { COMPONENTS } from '../controlplane/binaries.js';
import { type CheckReport, checkKubectl, checkPort, type Finding } from './checks.js';

function binariesFinding(state: LabState, env: NodeJS.ProcessEnv): Finding {
  try {
    const plan = planBinaries({
      version: state.kubernetesVersion === null ? null : `v${state.kubernetesVersion}`,
      binDir: state.binary?.binDir ?? null,
      env,
    });
    if (plan.downloads.length === 0)
      return {
        check: 'binaries',
        status: 'ok',
        message: `etcd and Kubernetes ${state.kubernetesVersion} in ${plan.dir}`,
      };
    return {
      check: 'binaries',
      status: 'warn',
      message: `up downloads ${plan.downloads.map((d) => d.file).join(', ')} to ${plan.dir}`,
      fix: 'offline, put them there yourself, or give `up --bin-dir DIR`',
    };
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return { check: 'binaries', status: 'fail', message: err.message, ...(err.hint ? { fix: err.hint } : {}) };
  }
}

/** Each control plane port: free, or held by the lab's own process. */
async function portsFinding(paths: LabPaths, state: LabState): Promise<Finding> {
  const files = controlPlaneFiles(paths.dir);
  const taken: string[] = [];
  for (const c of COMPONENTS) {
    if ((await findRunning({ pid: files.pids[c], log: files.logs[c] })) !== null) continue;
    for (const port of componentPorts(c, state.binary!.ports))
      if ((await probePort('127.0.0.1', port)) !== 'free') taken.push(`${port} (${c})`);
  }
  if (taken.length === 0)
    return { check: 'control plane ports', status: 'ok', message: "each free, or the lab's own process's" };
  return {
    check: 'control plane ports',
    status: 'fail',
    message: `in use by another program on 127.0.0.1: ${taken.join(', ')}`,
    fix: `stop that program, or \`audit-lab up --recreate\` to pick new ports`,
  };
}

export async function binaryChecks(
  paths: LabPaths,
  state: LabState,
  tools: Tools,
  receiver: ReceiverControl | null,
  env: NodeJS.ProcessEnv,
): Promise<CheckReport> {
  const kubectl = await checkKubectl(tools);
  const findings: Finding[] = [
    kubectl.finding,
    binariesFinding(state, env),
    await checkPort(paths, receiver, state.receiver.address, state.receiver.port),
    await portsFinding(paths, state),
  ];
  return {
    ok: findings.every((f) => f.status !== 'fail'),
    findings,
    facts: { docker: null, kindVersion: null, kubectlVersion: kubectl.version },
  };
}
