import { UserError } from '../errors.js';
import { type ModeChoice, type ModeSelection, selectBinaryMode, selectMode } from './mode.js';
import { nameFlag } from './paths.js';
import { applySinkChange, type SinkChange, withSink } from './sinks.js';
import {
  type BinaryState,
  type Capture,
  DEFAULT_SINK,
  type KindConfigApi,
  type LabState,
  newLabState,
  newSinkState,
  type ProviderName,
  providerOf,
  validateDuration,
} from './state.js';

/** What a lab is asked to be; left out, an existing lab keeps its value and a new one takes the default. */
export interface PlanRequest {
  name: string;
  mode?: ModeChoice;
  image?: string;
  kindConfigApi?: KindConfigApi;
  batchMaxWait?: string;
  port?: number;
  capture?: Capture;
  /** A sink change to plan as if `sink create` had made it (merged over the lab's sinks). */
  sink?: SinkChange;
  /** Given for a new lab (kind when left out); an existing lab keeps its own. */
  provider?: ProviderName;
  /** provider binary: the binaries' version (`up` reads it from them) and where they are and listen. */
  kubernetesVersion?: string;
  binary?: BinaryState;
}

/** The mode, image and version: from the image on kind, from the binaries' version on binary. */
function selection(existing: LabState | null, o: PlanRequest): ModeSelection {
  if ((o.provider ?? (existing ? providerOf(existing) : 'kind')) === 'binary') {
    const version = o.kubernetesVersion ?? existing?.kubernetesVersion;
    if (version == null) throw new UserError('a binary lab needs its Kubernetes version', 'give --kubernetes-version');
    const keep = existing !== null && o.kubernetesVersion === undefined;
    return selectBinaryMode(o.mode ?? (keep ? existing.mode : 'auto'), version);
  }
  const keepLabMode = existing !== null && o.image === undefined;
  return selectMode(o.mode ?? (keepLabMode ? existing.mode : 'auto'), o.image ?? existing?.image ?? undefined);
}

/**
 * The state to render from: the lab's, or the one `up` would make, with the flags applied on top.
 * Pure, so the rules are tested without files.
 */
export function planState(existing: LabState | null, o: PlanRequest, now = new Date()): LabState {
  const chosen = selection(existing, o);
  const base = existing ?? {
    ...newLabState({ name: o.name, ...chosen, now }),
    sinks: [newSinkState(DEFAULT_SINK, now)],
  };
  const state: LabState = {
    ...base,
    ...chosen,
    webhook: { ...base.webhook },
    receiver: { ...base.receiver },
    sinks: [...base.sinks],
  };
  if (o.provider === 'binary') state.provider = 'binary';
  if (o.binary) state.binary = { binDir: o.binary.binDir, ports: { ...o.binary.ports } };
  if (o.kindConfigApi) state.kindConfigApi = o.kindConfigApi;
  if (o.batchMaxWait !== undefined) state.webhook.batchMaxWait = validateDuration('--batch-max-wait', o.batchMaxWait);
  if (o.capture) state.capture = o.capture;
  if (o.port !== undefined) state.receiver.port = o.port;
  refuseLostPolicies(state);
  if (o.sink) {
    const change = o.sink;
    state.sinks = withSink(
      state.sinks,
      applySinkChange(
        state.sinks.find((s) => s.name === change.name),
        change,
        now,
      ),
    );
  }
  return state;
}

/**
 * A sink with a full policy exists only in static mode: an AuditSink holds one level and one set of
 * stages. Moving such a lab to dynamic mode would quietly log every request at the policy's highest
 * level, so it is refused, naming the sinks and the ways on.
 */
function refuseLostPolicies(state: LabState): void {
  if (state.mode !== 'dynamic') return;
  const lost = state.sinks.filter((s) => s.policy !== undefined);
  const first = lost[0];
  if (first === undefined) return;
  const each = lost.map((s) => `sink ${JSON.stringify(s.name)} applies policy ${s.policy}`).join('; ');
  throw new UserError(
    `lab ${JSON.stringify(state.name)} in dynamic mode (${state.image ?? "kind's default image"}) would make each sink an AuditSink, one level and one set of stages: ${each}, which an AuditSink cannot hold`,
    `keep static mode with --mode static (it runs on every Kubernetes version), or first make the sink plain ` +
      `(\`audit-lab sink create ${first.name}${nameFlag(state.name)} --level ${first.level} --stage ${first.stages.join(',')}\`) or delete it`,
  );
}
