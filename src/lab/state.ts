import { isIP } from 'node:net';
import { UserError } from '../errors.js';
import { DEFAULT_BURST, DEFAULT_QPS, isObject, type SinkSpec, type Throttle, validateSink } from '../audit/model.js';
import { parseDurationMicros } from '../audit/filter.js';
import { parseHost } from './endpoints.js';
import { escapeText } from '../ui/escape.js';
import { ensurePrivateDir, writeFileAtomic } from './fsutil.js';
import type { Mode } from './mode.js';
import { type LabPaths, nameFlag, validateLabName } from './paths.js';
import { readFileNoFollow, refuseSymlink } from './safety.js';
import { kubeContext } from '../tools/kind.js';

/**
 * Bumped on any change a previous audit-lab could misread. Only this version is read: a newer file
 * asks for an upgrade, any other is refused as invalid (there is no older version to migrate yet).
 */
export const STATE_VERSION = 1;

export type KindConfigApi = 'v1alpha4' | 'v1alpha3';
export type Capture = 'sinks' | 'full';

export interface SinkState extends SinkSpec {
  /** Secret path segment of the sink's dynamic endpoint: AuditSinks cannot send client certificates. */
  token: string;
  createdAt: string;
  /**
   * static mode: where the sink's full audit Policy came from (a path or preset:NAME); its copy is
   * sinkPolicyFile(paths, name) (streams/names.ts). level and stages then say what the policy can log at most.
   */
  policy?: string;
  /** SHA-256 of that policy, so a changed policy is a changed state the receiver reloads. */
  policyDigest?: string;
}

export interface ReceiverState {
  /** Where the receiver listens on this machine. */
  address: string;
  port: number;
  /** How the node reaches the receiver; null until learned (see `up`). */
  host: string | null;
}

/** What runs the lab's cluster: kind (nodes in Docker), or the control plane's binaries as local processes. */
export type ProviderName = 'kind' | 'binary';

/** Where each process of a binary control plane listens, on 127.0.0.1. */
export interface ControlPlanePorts {
  /** etcd's client port (https, client certificates required). */
  etcd: number;
  /** etcd's peer port (plain http on 127.0.0.1: one member, no peer ever connects). */
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

export const CONTROL_PLANE_PORT_NAMES: readonly (keyof ControlPlanePorts)[] = [
  'etcd',
  'etcdPeer',
  'apiserver',
  'controllerManager',
  'scheduler',
];

export interface BinaryState {
  /** The directory the binaries were taken from (--bin-dir), or null: the download cache. */
  binDir: string | null;
  ports: ControlPlanePorts;
}

export interface LabState {
  version: typeof STATE_VERSION;
  name: string;
  mode: Mode;
  /** Absent in a lab made before there was a choice: kind. */
  provider?: ProviderName;
  /** provider binary: where its binaries are and where its processes listen. */
  binary?: BinaryState;
  /** Node image passed to kind, or null for kind's own default. */
  image: string | null;
  kubernetesVersion: string | null;
  kindConfigApi: KindConfigApi;
  /** static mode: capture what the sinks need, or everything so sink changes never restart the API server. */
  capture: Capture;
  /** static mode: the API server's webhook batching. */
  webhook: { batchMaxWait: string; throttle: Throttle };
  receiver: ReceiverState;
  /** Size-based rotation of each sink's stream (`serve --max-stream-size/--max-stream-files`); absent: the defaults. */
  streams?: { maxBytes: number; maxBackups: number };
  sinks: SinkState[];
  createdAt: string;
  updatedAt: string;
}

export function providerOf(state: Pick<LabState, 'provider'>): ProviderName {
  return state.provider ?? 'kind';
}

/** The kubeconfig context of a binary lab's cluster (a kind lab's is kind's own, kind-<name>). */
export function binaryContext(name: string): string {
  return `audit-lab-${name}`;
}

/** The kubeconfig context kubectl is pointed at for the lab's cluster. */
export function labContext(state: Pick<LabState, 'name' | 'provider'>): string {
  return providerOf(state) === 'binary' ? binaryContext(state.name) : kubeContext(state.name);
}

export const DEFAULT_RECEIVER_PORT = 8845;
/** Where a new lab's receiver listens until `up` learns where the node reaches it. */
export const DEFAULT_RECEIVER_ADDRESS = '127.0.0.1';

/**
 * Where a new lab's receiver port is looked for from: 8845, or AUDIT_LAB_FIRST_PORT, a test seam:
 * each test run takes ports of its own, so two runs side by side (or a lab of the user's) never
 * race for the same one.
 */
export function firstReceiverPort(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.AUDIT_LAB_FIRST_PORT);
  return Number.isInteger(n) && n >= 1024 && n <= 65_000 ? n : DEFAULT_RECEIVER_PORT;
}
/**
 * How long a new static lab's API server holds a batch of audit events. An event waits up to this
 * long before it is sent, so it sets the lab's loop (kubectl returns -> `tail` prints), which
 * `npm run test:kind` measures: about p50 50 ms, p99 100 ms with 100 ms on a real 1.37 cluster,
 * about ten times that with 1 s, with no kube-apiserver CPU cost that could be told from noise. A
 * burst still goes in 400-event batches: a batch is sent when it is full, whatever the wait. Labs
 * made before keep the wait they saved.
 */
export const DEFAULT_BATCH_MAX_WAIT = '100ms';

/**
 * A new lab's capture: everything, so creating or changing a sink of any level and stages never
 * restarts the API server (the receiver cuts each sink's events from the full ones). It costs the
 * API server more bytes to send, which `npm run bench:capture` measures against the narrow capture
 * (`--capture sinks`, for anyone who wants to watch the API server do the filtering). Labs made
 * before keep the capture they saved.
 */
export const DEFAULT_CAPTURE: Capture = 'full';

/** The sink `up` creates (audit/model.ts, where every sink default is set); here for the lab's own callers. */
export { DEFAULT_SINK } from '../audit/model.js';

// A new sink's state, in a module of its own so flag parsing (lab/sinks.ts) loads no more than it.
export { newSinkState, newToken } from './newSink.js';

export function newLabState(init: {
  name: string;
  mode: Mode;
  image: string | null;
  kubernetesVersion: string | null;
  now?: Date;
}): LabState {
  const now = (init.now ?? new Date()).toISOString();
  return {
    version: STATE_VERSION,
    name: init.name,
    mode: init.mode,
    image: init.image,
    kubernetesVersion: init.kubernetesVersion,
    kindConfigApi: 'v1alpha4',
    capture: DEFAULT_CAPTURE,
    webhook: { batchMaxWait: DEFAULT_BATCH_MAX_WAIT, throttle: { qps: DEFAULT_QPS, burst: DEFAULT_BURST } },
    receiver: { address: DEFAULT_RECEIVER_ADDRESS, port: firstReceiverPort(), host: null },
    sinks: [],
    createdAt: now,
    updatedAt: now,
  };
}

// The rules for saved settings. Each says what is wrong with a value, or null. Loading the state
// and the flags that set a value use the same rule, so a command never saves what would then make
// every later command refuse the lab.

/** A value from the file or a flag, as a person reads it in an error: quoted, controls made visible. */
const shown = (v: unknown) => escapeText(JSON.stringify(v) ?? String(v));

/** Go's time.ParseDuration forms that make sense for a batch wait: positive. */
export function durationProblem(value: unknown): string | null {
  return typeof value === 'string' && (parseDurationMicros(value, { days: false }) ?? 0) > 0
    ? null
    : `must be a positive Go duration (e.g. 1s, 500ms, 2m), not ${shown(value)}`;
}

export function validateDuration(flag: string, value: string): string {
  if (durationProblem(value) !== null) {
    throw new UserError(
      `${flag} ${shown(value)} is not a positive duration`,
      'use Go duration syntax, e.g. 1s, 500ms, 2m',
    );
  }
  return value;
}

/** Where the receiver listens: an address of this machine, so an IP address, never a name to look up. */
export function listenAddressProblem(value: unknown): string | null {
  return typeof value === 'string' && isIP(value) !== 0
    ? null
    : `must be an IP address of this machine (127.0.0.1, ::1, or 0.0.0.0 for every interface), not ${shown(value)}`;
}

/** 0 asks for any free port; `serve` then saves the one it got. */
export function portProblem(value: unknown): string | null {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535
    ? null
    : `must be a whole number from 0 to 65535, not ${shown(value)}`;
}

/** Stream rotation: a size in bytes and a count of rotated files, each a whole number, 1 or more. */
export function atLeastOneProblem(value: unknown): string | null {
  return Number.isInteger(value) && (value as number) >= 1
    ? null
    : `must be a whole number, 1 or more, not ${shown(value)}`;
}

function positiveNumberProblem(value: unknown): string | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
    ? null
    : `must be a number greater than 0, not ${shown(value)}`;
}

function labNameProblem(value: unknown): string | null {
  try {
    if (typeof value === 'string' && validateLabName(value) === value) return null;
  } catch {
    // refused below
  }
  return `must be a lab name, not ${shown(value)}`;
}

function nodeHostProblem(value: unknown): string | null {
  if (value === null) return null;
  const problem = `must be a host name, an IP address or null, not ${shown(value)}`;
  if (typeof value !== 'string') return problem;
  try {
    return parseHost('receiver.host', value, '') === value ? null : problem;
  } catch {
    return problem;
  }
}

/**
 * Reads and checks the state file; null when the lab has none yet. Never rewrites what it cannot
 * read. A link (or anything but a regular file) in its place is refused, not read through.
 */
export async function readState(paths: LabPaths): Promise<LabState | null> {
  let text: string;
  try {
    text = await readFileNoFollow(paths.state);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidState(paths.state, `not JSON (${(err as Error).message})`);
  }
  return checkState(raw, paths.state);
}

/**
 * The one answer to a lab that does not exist. Only `up` and `serve` make a lab (its mode, port and
 * CA are theirs to choose); every other command refuses, so a mistyped --name makes nothing.
 */
export function noSuchLab(paths: LabPaths): UserError {
  const flag = nameFlag(paths.name);
  return new UserError(
    `there is no lab named ${JSON.stringify(paths.name)} in ${paths.home}`,
    `make it with \`audit-lab up${flag}\` (cluster and receiver), or \`audit-lab serve${flag}\` (the receiver alone, no cluster)`,
  );
}

function invalidState(path: string, what: string): UserError {
  return new UserError(
    `lab state ${path} is not valid: ${what}`,
    'fix the file by hand, or start over with `audit-lab down --purge` (this deletes the lab and its events)',
  );
}

/** Every field of the state, each refused with its name and the file's; `saving`: checked before writing, not after reading. */
function checkState(raw: unknown, path: string, saving = false): LabState {
  const fail = (what: string) =>
    saving
      ? new UserError(`not saving lab state ${path}: ${what}`, 'nothing was changed; correct the value that set it')
      : invalidState(path, what);
  if (!isObject(raw)) throw fail('not a JSON object');
  const s = raw;
  const need = (field: string, problem: string | null) => {
    if (problem !== null) throw fail(`${JSON.stringify(field)} ${problem}`);
  };
  if (typeof s.version !== 'number') throw fail('no "version"');
  if (s.version > STATE_VERSION) {
    throw new UserError(
      `lab state ${path} was written by a newer audit-lab (state version ${s.version}, this one reads ${STATE_VERSION})`,
      'upgrade audit-lab',
    );
  }
  // Version 1 is the first: nothing older exists to migrate, so any other number is a damaged file.
  if (s.version !== STATE_VERSION) throw fail(`unknown version ${s.version}`);
  need('name', labNameProblem(s.name));
  need('mode', s.mode === 'static' || s.mode === 'dynamic' ? null : `must be static or dynamic, not ${shown(s.mode)}`);
  need(
    'image',
    s.image === null || (typeof s.image === 'string' && s.image !== '')
      ? null
      : `must be a node image or null, not ${shown(s.image)}`,
  );
  need(
    'kubernetesVersion',
    s.kubernetesVersion === null || typeof s.kubernetesVersion === 'string'
      ? null
      : `must be a version or null, not ${shown(s.kubernetesVersion)}`,
  );
  need(
    'kindConfigApi',
    s.kindConfigApi === 'v1alpha4' || s.kindConfigApi === 'v1alpha3'
      ? null
      : `must be v1alpha4 or v1alpha3, not ${shown(s.kindConfigApi)}`,
  );
  need(
    'capture',
    s.capture === 'sinks' || s.capture === 'full' ? null : `must be sinks or full, not ${shown(s.capture)}`,
  );

  const webhook = s.webhook;
  need(
    'webhook',
    isObject(webhook) && isObject(webhook.throttle) ? null : 'must be an object with batchMaxWait and throttle',
  );
  const w = webhook as Record<string, Record<string, unknown>>;
  need('webhook.batchMaxWait', durationProblem(w.batchMaxWait));
  need('webhook.throttle.qps', positiveNumberProblem(w.throttle!.qps));
  need('webhook.throttle.burst', positiveNumberProblem(w.throttle!.burst));

  need('receiver', isObject(s.receiver) ? null : 'must be an object with address, port and host');
  const receiver = s.receiver as Record<string, unknown>;
  need('receiver.address', listenAddressProblem(receiver.address));
  need('receiver.port', portProblem(receiver.port));
  need('receiver.host', nodeHostProblem(receiver.host));

  if (s.streams !== undefined) {
    need('streams', isObject(s.streams) ? null : 'must be an object with maxBytes and maxBackups');
    const streams = s.streams as Record<string, unknown>;
    need('streams.maxBytes', atLeastOneProblem(streams.maxBytes));
    need('streams.maxBackups', atLeastOneProblem(streams.maxBackups));
  }

  checkProvider(s, need);
  if (!Array.isArray(s.sinks)) throw fail('"sinks" must be a list');
  checkSinks(s.sinks, fail, need);
  need('createdAt', typeof s.createdAt === 'string' ? null : 'must be a time');
  need('updatedAt', typeof s.updatedAt === 'string' ? null : 'must be a time');
  return s as unknown as LabState;
}

/** provider, and a binary lab's binary section: its ports, each a real port (not 0: they are chosen once). */
function checkProvider(s: Record<string, unknown>, need: (field: string, problem: string | null) => void): void {
  need(
    'provider',
    s.provider === undefined || s.provider === 'kind' || s.provider === 'binary'
      ? null
      : `must be kind or binary, not ${shown(s.provider)}`,
  );
  if (s.provider !== 'binary') return;
  need('binary', isObject(s.binary) && isObject(s.binary.ports) ? null : 'must be an object with binDir and ports');
  const binary = s.binary as Record<string, unknown>;
  need(
    'binary.binDir',
    binary.binDir === null || (typeof binary.binDir === 'string' && binary.binDir.startsWith('/'))
      ? null
      : `must be an absolute directory or null, not ${shown(binary.binDir)}`,
  );
  const ports = binary.ports as Record<string, unknown>;
  for (const k of CONTROL_PLANE_PORT_NAMES) {
    need(`binary.ports.${k}`, ports[k] !== 0 ? portProblem(ports[k]) : 'must be a port from 1 to 65535, not 0');
  }
}

/** The state's sinks, each field refused with its index, and no name twice. */
function checkSinks(
  sinks: unknown[],
  fail: (what: string) => UserError,
  need: (field: string, problem: string | null) => void,
): void {
  const names = new Set<string>();
  sinks.forEach((sink: unknown, i: number) => {
    if (!isObject(sink)) throw fail(`sinks[${i}] is not an object`);
    if (typeof sink.token !== 'string' || sink.token.length < 32)
      throw fail(`sinks[${i}].token is missing or too short`);
    if (typeof sink.name !== 'string') throw fail(`sinks[${i}].name must be a string`);
    if (!Array.isArray(sink.stages) || !sink.stages.every((x) => typeof x === 'string'))
      throw fail(`sinks[${i}].stages must be a list of stages`);
    if (!isObject(sink.throttle)) throw fail(`sinks[${i}].throttle must be an object with qps and burst`);
    need(`sinks[${i}].throttle.qps`, positiveNumberProblem(sink.throttle.qps));
    need(`sinks[${i}].throttle.burst`, positiveNumberProblem(sink.throttle.burst));
    if (sink.url !== undefined && typeof sink.url !== 'string') throw fail(`sinks[${i}].url must be a string`);
    const errs = validateSink({
      name: sink.name,
      level: String(sink.level ?? ''),
      stages: sink.stages as string[],
      throttle: sink.throttle as Partial<Throttle>,
      ...(sink.url !== undefined ? { url: sink.url as string } : {}),
    });
    const first = errs[0];
    if (first) throw fail(`sinks[${i}] (${first.field}): ${first.message}`);
    for (const key of ['policy', 'policyDigest'] as const) {
      if (sink[key] !== undefined && typeof sink[key] !== 'string') throw fail(`sinks[${i}].${key} must be a string`);
    }
    need(`sinks[${i}].createdAt`, typeof sink.createdAt === 'string' ? null : 'must be a time');
    if (names.has(sink.name)) throw fail(`sinks[${i}]: a second sink named ${shown(sink.name)}`);
    names.add(sink.name);
  });
}

/** Checks a state as readState will (after a JSON round trip), so what is saved can always be loaded. */
export function checkStateToSave(paths: LabPaths, state: LabState): void {
  checkState(JSON.parse(JSON.stringify(state)), paths.state, true);
}

/** Saves the state, after the same checks as loading: a value that would make the lab unreadable is refused here. */
export async function writeState(paths: LabPaths, state: LabState): Promise<void> {
  checkStateToSave(paths, state);
  await ensurePrivateDir(paths.home);
  await ensurePrivateDir(paths.dir);
  // Renaming over a link would replace it with a file unseen: refused, as readState refuses it.
  await refuseSymlink(paths.state);
  // The state holds sink tokens: private, like the keys.
  await writeFileAtomic(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
