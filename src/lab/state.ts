import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { DEFAULT_BURST, DEFAULT_QPS, DEFAULT_SINK_NAME, type SinkSpec, type Throttle, validateSink } from '../audit/model.js';
import { ensurePrivateDir, writeFileAtomic } from './fsutil.js';
import type { Mode } from './mode.js';
import type { LabPaths } from './paths.js';

/** Bumped on any change a previous audit-lab could misread; older files are migrated on read. */
export const STATE_VERSION = 1;

export type KindConfigApi = 'v1alpha4' | 'v1alpha3';
export type Capture = 'sinks' | 'full';

export interface SinkState extends SinkSpec {
  /** Secret path segment of the sink's dynamic endpoint: AuditSinks cannot send client certificates. */
  token: string;
  createdAt: string;
  /**
   * static mode: where the sink's full audit Policy came from (a path or preset:NAME); its copy is
   * sinkPolicyFile(paths, name). level and stages then say what the policy can log at most.
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

export interface LabState {
  version: typeof STATE_VERSION;
  name: string;
  mode: Mode;
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

export const DEFAULT_RECEIVER_PORT = 8845;
export const DEFAULT_BATCH_MAX_WAIT = '1s';

/** The sink `up` creates: what the classic walkthrough's AuditSink asked for. */
export const DEFAULT_SINK: SinkSpec = {
  name: DEFAULT_SINK_NAME,
  level: 'Metadata',
  stages: ['ResponseComplete'],
  throttle: { qps: DEFAULT_QPS, burst: DEFAULT_BURST },
};

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function newSinkState(spec: SinkSpec, now = new Date()): SinkState {
  return { ...spec, token: newToken(), createdAt: now.toISOString() };
}

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
    capture: 'sinks',
    webhook: { batchMaxWait: DEFAULT_BATCH_MAX_WAIT, throttle: { qps: DEFAULT_QPS, burst: DEFAULT_BURST } },
    receiver: { address: '127.0.0.1', port: DEFAULT_RECEIVER_PORT, host: null },
    sinks: [],
    createdAt: now,
    updatedAt: now,
  };
}

/** Go's time.ParseDuration forms that make sense for a batch wait. */
export function validateDuration(flag: string, value: string): string {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value) || !/[1-9]/.test(value)) {
    throw new UserError(`${flag} ${JSON.stringify(value)} is not a positive duration`, 'use Go duration syntax, e.g. 1s, 500ms, 2m');
  }
  return value;
}

function invalidState(path: string, what: string): UserError {
  return new UserError(
    `lab state ${path} is not valid: ${what}`,
    'fix the file by hand, or start over with `audit-lab down --purge` (this deletes the lab and its events)',
  );
}

/** Reads and checks the state file; null when the lab has none yet. Never rewrites what it cannot read. */
export async function readState(paths: LabPaths): Promise<LabState | null> {
  let text: string;
  try {
    text = await readFile(paths.state, 'utf8');
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

function checkState(raw: unknown, path: string): LabState {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidState(path, 'not a JSON object');
  const s = raw as Record<string, unknown>;
  if (typeof s.version !== 'number') throw invalidState(path, 'no "version"');
  if (s.version > STATE_VERSION) {
    throw new UserError(
      `lab state ${path} was written by a newer audit-lab (state version ${s.version}, this one reads ${STATE_VERSION})`,
      'upgrade audit-lab',
    );
  }
  if (s.version !== STATE_VERSION) throw invalidState(path, `unknown version ${s.version}`);
  if (s.mode !== 'static' && s.mode !== 'dynamic') throw invalidState(path, `"mode" must be static or dynamic, not ${JSON.stringify(s.mode)}`);
  if (s.kindConfigApi !== 'v1alpha4' && s.kindConfigApi !== 'v1alpha3') throw invalidState(path, '"kindConfigApi" must be v1alpha4 or v1alpha3');
  if (s.capture !== 'sinks' && s.capture !== 'full') throw invalidState(path, '"capture" must be sinks or full');
  const receiver = s.receiver as Partial<ReceiverState> | undefined;
  if (
    !receiver ||
    typeof receiver.address !== 'string' ||
    !Number.isInteger(receiver.port) ||
    (receiver.host !== null && typeof receiver.host !== 'string')
  ) {
    throw invalidState(path, '"receiver" needs address (string), port (integer) and host (string or null)');
  }
  const webhook = s.webhook as LabState['webhook'] | undefined;
  if (!webhook || typeof webhook.batchMaxWait !== 'string' || typeof webhook.throttle?.qps !== 'number' || typeof webhook.throttle?.burst !== 'number') {
    throw invalidState(path, '"webhook" needs batchMaxWait and throttle.qps/burst');
  }
  const streams = s.streams as LabState['streams'] | undefined;
  if (streams !== undefined && !(Number.isInteger(streams?.maxBytes) && streams!.maxBytes > 0 && Number.isInteger(streams!.maxBackups) && streams!.maxBackups >= 1)) {
    throw invalidState(path, '"streams" needs maxBytes (> 0) and maxBackups (>= 1), whole numbers');
  }
  if (!Array.isArray(s.sinks)) throw invalidState(path, '"sinks" must be a list');
  const names = new Set<string>();
  s.sinks.forEach((sink: Partial<SinkState>, i: number) => {
    if (typeof sink !== 'object' || sink === null) throw invalidState(path, `sinks[${i}] is not an object`);
    if (typeof sink.token !== 'string' || sink.token.length < 32) throw invalidState(path, `sinks[${i}].token is missing or too short`);
    const errs = validateSink({
      name: String(sink.name ?? ''),
      level: String(sink.level ?? ''),
      stages: Array.isArray(sink.stages) ? sink.stages.map(String) : [],
      throttle: sink.throttle,
      url: sink.url,
    });
    const first = errs[0];
    if (first) throw invalidState(path, `sinks[${i}] (${first.field}): ${first.message}`);
    if (sink.policy !== undefined && typeof sink.policy !== 'string') throw invalidState(path, `sinks[${i}].policy must be a string`);
    if (names.has(sink.name!)) throw invalidState(path, `sinks[${i}]: a second sink named ${JSON.stringify(sink.name)}`);
    names.add(sink.name!);
  });
  return s as unknown as LabState;
}

export async function writeState(paths: LabPaths, state: LabState): Promise<void> {
  await ensurePrivateDir(paths.home);
  await ensurePrivateDir(paths.dir);
  // The state holds sink tokens: private, like the keys.
  await writeFileAtomic(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
