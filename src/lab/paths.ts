import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';

export const DEFAULT_LAB_NAME = 'audit-lab';

/** Where labs live: $AUDIT_LAB_HOME, else ~/.audit-lab. */
export function labHome(env: NodeJS.ProcessEnv, cwd: string): string {
  const fromEnv = env.AUDIT_LAB_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return isAbsolute(fromEnv) ? fromEnv : resolve(cwd, fromEnv);
  return join(homedir(), '.audit-lab');
}

// The name becomes a kind cluster name, a docker container name prefix and a directory name:
// keep it to what all three accept, and never let it climb out of the lab home.
const LAB_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LAB_NAME_MAX = 40;

/** ` --name NAME` for a command line shown to the user, or nothing for the default lab. */
export function nameFlag(name: string): string {
  return name === DEFAULT_LAB_NAME ? '' : ` --name ${name}`;
}

export function isLabName(name: string): boolean {
  return LAB_NAME.test(name) && name.length <= LAB_NAME_MAX;
}

export function validateLabName(name: string): string {
  if (!isLabName(name)) {
    throw new UserError(
      `--name ${JSON.stringify(name)} is not a valid lab name: use lower-case letters, digits and '-', ` +
        `starting and ending with a letter or digit, at most ${LAB_NAME_MAX} characters`,
      'for example: --name audit-lab-2',
    );
  }
  return name;
}

/** Every path of a lab; the one place that knows the layout of the lab directory. */
export interface LabPaths {
  home: string;
  name: string;
  dir: string;
  state: string;
  lock: string;
  kindConfig: string;
  auditSinks: string;
  /** The only directory mounted into the node: what the API server reads, and nothing secret besides its own client key. */
  apiserverDir: string;
  policy: string;
  webhookKubeconfig: string;
  pkiDir: string;
  /** Copies of the policies sinks were created with (`sink create --policy`), one per sink. */
  policiesDir: string;
  streamsDir: string;
  receiverPid: string;
  receiverLog: string;
  /** The running receiver's forwarding report (daemon/forwarding.ts). */
  forwarding: string;
}

/** The directory of a lab (or of `render --out`) that the node mounts, and nothing else is in. */
export const APISERVER_DIR = 'apiserver';

export function labPaths(home: string, name: string): LabPaths {
  const dir = join(home, validateLabName(name));
  const apiserverDir = join(dir, APISERVER_DIR);
  return {
    home,
    name,
    dir,
    state: join(dir, 'state.json'),
    lock: join(dir, 'lock'),
    kindConfig: join(dir, 'config.yaml'),
    auditSinks: join(dir, 'audit.yaml'),
    apiserverDir,
    policy: join(apiserverDir, 'policy.yaml'),
    webhookKubeconfig: join(apiserverDir, 'webhook.kubeconfig'),
    pkiDir: join(dir, 'pki'),
    policiesDir: join(dir, 'policies'),
    streamsDir: join(dir, 'streams'),
    receiverPid: join(dir, 'receiver.pid'),
    receiverLog: join(dir, 'receiver.log'),
    forwarding: join(dir, 'forwarding.json'),
  };
}

/** Where the API server finds the apiserver directory, inside the node and inside its pod. */
export const NODE_AUDIT_DIR = '/etc/kubernetes/audit-lab';
