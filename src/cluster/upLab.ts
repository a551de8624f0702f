/**
 * What `up` makes of the lab, apart from its steps (up.ts): the state from the flags, the shape of
 * the cluster that state needs, and the lab's files, each written only when it differs.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { deployedCapture, restartPending } from '../lab/deployed.js';
import { FALLBACK_NODE_HOST } from '../lab/endpoints.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import type { CgroupVersion } from '../lab/host.js';
import { describeReissue, ensureLab } from '../lab/lab.js';
import type { ModeChoice } from '../lab/mode.js';
import type { LabPaths } from '../lab/paths.js';
import type { LabPki } from '../lab/pki.js';
import { type PlanRequest, planState } from '../lab/plan.js';
import { pickReceiverPort } from '../lab/ports.js';
import {
  type Capture,
  type KindConfigApi,
  type LabState,
  type ProviderName,
  providerOf,
  writeState,
} from '../lab/state.js';
import { type RenderedFile, renderLabFiles } from '../render/labFiles.js';
import { captureFor, covers } from '../render/policyFile.js';
import type { Progress } from './steps.js';

/** What `up` is asked: flags left out are undefined, so an existing lab keeps its values. */
export interface UpRequest {
  name: string;
  mode?: ModeChoice;
  image?: string;
  /** A new lab gets the default sink. */
  sink: boolean;
  recreate: boolean;
  capture?: Capture;
  kindConfigApi?: KindConfigApi;
  batchMaxWait?: string;
  port?: number;
  /** What runs the cluster; left out, a lab keeps its own (kind for a new one). */
  provider?: ProviderName;
  /** provider binary: the version to download, or the one the --bin-dir binaries are. */
  kubernetesVersion?: string;
  /** provider binary: a directory holding etcd and the Kubernetes binaries (no download). */
  binDir?: string;
}

/**
 * Flags as planState takes them: only those given. On an existing lab the rest keep the lab's
 * values, so `up` after `down` rebuilds the same lab; a new lab takes the defaults.
 */
export function planOptions(o: UpRequest): PlanRequest {
  return {
    name: o.name,
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.kindConfigApi !== undefined ? { kindConfigApi: o.kindConfigApi } : {}),
    ...(o.batchMaxWait !== undefined ? { batchMaxWait: o.batchMaxWait } : {}),
    ...(o.capture !== undefined ? { capture: o.capture } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.provider !== undefined ? { provider: o.provider } : {}),
    ...(o.kubernetesVersion !== undefined ? { kubernetesVersion: o.kubernetesVersion } : {}),
  };
}

/** The state `up` would work from: planState, and no default sink for a new lab with --no-sink. */
export function upState(o: UpRequest, existing: LabState | null, now = new Date()): LabState {
  const state = planState(existing, planOptions(o), now);
  if (existing === null && !o.sink) state.sinks = [];
  return state;
}

/** A new lab without --port takes a port no other lab keeps (labs side by side share the gateway). */
export async function withPort(
  o: UpRequest,
  existing: LabState | null,
  paths: LabPaths,
  firstPort?: number,
): Promise<UpRequest> {
  if (o.port !== undefined || existing !== null) return o;
  return { ...o, port: await pickReceiverPort(paths.home, paths.name, undefined, firstPort) };
}

/** What a running cluster was made with, as a person reads it; changing any of it needs a new cluster. */
function clusterShape(s: LabState): Record<string, string> {
  return {
    mode: s.mode,
    image: s.image ?? "kind's default",
    'kind config API': s.kindConfigApi,
    ...(s.mode === 'static'
      ? { 'batch max wait': s.webhook.batchMaxWait, throttle: `${s.webhook.throttle.qps}/${s.webhook.throttle.burst}` }
      : {}),
  };
}

/** Each part of the cluster's shape that `to` changes, e.g. "batch max wait 1s -> 100ms". */
export function shapeChanges(from: LabState, to: LabState): string[] {
  const [a, b] = [clusterShape(from), clusterShape(to)];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k} ${a[k] ?? '(none)'} -> ${b[k] ?? '(none)'}`);
}

export function describeShape(s: LabState): string {
  if (providerOf(s) === 'binary') return `${s.mode} mode, Kubernetes ${s.kubernetesVersion} as local processes`;
  return `${s.mode} mode, ${s.image ?? "kind's default image"}`;
}

/** Where each rendered file goes in the lab. */
export function filePath(paths: LabPaths, f: RenderedFile): string {
  switch (f.name) {
    case 'config.yaml':
      return paths.kindConfig;
    case 'audit.yaml':
      return paths.auditSinks;
    default:
      return join(paths.apiserverDir, f.name);
  }
}

async function writeIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  try {
    if ((await readFile(path, 'utf8')) === content) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFileAtomic(path, content, mode);
  return true;
}

function withoutTimestamp(s: LabState): string {
  return JSON.stringify({ ...s, updatedAt: '' });
}

/** What writing the lab's files changed, for the steps after it. */
export interface LabFiles {
  /** The receiver's certificate is new: a running receiver must restart with it. */
  certChanged: boolean;
  /** The API server's policy or webhook config changed (or a restart is pending for them). */
  apiserverFilesChanged: boolean;
  auditSinksChanged: boolean;
}

export const NO_FILES_CHANGED: Readonly<LabFiles> = {
  certChanged: false,
  apiserverFilesChanged: false,
  auditSinksChanged: false,
};

/** Where the files are rendered for, and the host cgroup that decides the kubelet patch. */
export interface LabTarget {
  paths: LabPaths;
  hostCgroup: CgroupVersion | null;
}

export function renderFor(t: LabTarget, state: LabState, pki: LabPki, host: string | null): RenderedFile[] {
  const receiverHost = host ?? FALLBACK_NODE_HOST;
  return renderLabFiles(state, pki, { mountDir: t.paths.apiserverDir, receiverHost, hostCgroup: t.hostCgroup });
}

export interface WriteLab extends LabTarget {
  progress: Pick<Progress, 'info' | 'warn'>;
  /** The capture `up` was asked for with --capture, if any. */
  capture: Capture | undefined;
  /** What this run changed, for the summary: the files written are added. */
  did: string[];
}

/**
 * State, PKI and rendered files, each written only when it differs, so a second `up` touches
 * nothing. The server certificate is reissued when it does not cover the node-facing host.
 */
export async function writeLab(
  w: WriteLab,
  previous: LabState | null,
  state: LabState,
  host: string | null,
): Promise<LabFiles> {
  const { paths } = w;
  if (previous === null || withoutTimestamp(previous) !== withoutTimestamp(state)) {
    state.updatedAt = new Date().toISOString();
    await writeState(paths, state);
  }
  const lab = await ensureLab(paths);
  // A new server certificate is routine here (the node reaches the receiver at a new address) and
  // up restarts the receiver with it; a new client certificate changes what the API server holds.
  for (const r of lab.reissued) {
    const text = describeReissue(r, paths, state.mode, 'up');
    if (r.part === 'server') w.progress.info(text);
    else w.progress.warn(text);
  }
  const certChanged = lab.pkiCreated || lab.reissued.some((r) => r.part === 'server');
  await ensurePrivateDir(paths.apiserverDir);
  const changed: string[] = [];
  // The API server's capture only has to cover every sink (as for `sink create`): a wider one,
  // left by a deleted sink, is kept rather than restarting the API server to narrow it. A capture
  // the user names with --capture is the one deployed, restart and all: it is what they asked.
  const deployed = state.mode === 'static' ? await deployedCapture(paths) : null;
  const keepCapture =
    w.capture === undefined && deployed !== null && covers(deployed, captureFor(state.sinks, state.capture));
  // A `sink create` whose restart failed left its capture unloaded: this up restarts for it.
  const pending =
    state.mode === 'static' &&
    (await stat(restartPending(paths)).then(
      () => true,
      () => false,
    ));
  for (const f of renderFor(w, state, lab.pki, host)) {
    if (f.name === 'policy.yaml' && keepCapture) continue;
    // A control plane of binaries reads its files where they are: no node, no kind config.
    if (f.name === 'config.yaml' && providerOf(state) === 'binary') continue;
    if (await writeIfChanged(filePath(paths, f), f.content, f.mode)) changed.push(f.name);
  }
  if (changed.length > 0) w.did.push(`wrote ${changed.join(', ')}`);
  return {
    certChanged,
    apiserverFilesChanged: pending || changed.includes('policy.yaml') || changed.includes('webhook.kubeconfig'),
    auditSinksChanged: changed.includes('audit.yaml'),
  };
}
