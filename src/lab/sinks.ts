/**
 * A change to one of a lab's sinks (`sink create`, `render --sink`): checked once, where flags
 * become one, and merged by one rule. The defaults are audit/model.ts's DEFAULT_SINK.
 */
import { checkSink, DEFAULT_SINK, type Level, type SinkSpec, type Stage } from '../audit/model.js';
import { newSinkState } from './newSink.js';
import type { SinkState } from './state.js';

/** A change as given: the sink's name, and only the fields given. */
export interface SinkChangeInput {
  name: string;
  /** Canonical case where recognised; anything else as typed, so the error quotes it. */
  level?: string;
  stages?: readonly string[];
  qps?: number;
  burst?: number;
  url?: string;
}

/** A checked change (checkSinkChange): only the fields given, each one a sink may hold. */
export interface SinkChange {
  name: string;
  level?: Level;
  stages?: readonly Stage[];
  qps?: number;
  burst?: number;
  url?: string;
  /** static mode: the sink applies this audit Policy; level and stages then say what it logs at most. */
  policy?: { source: string; digest: string };
}

type Merged = Omit<SinkSpec, 'level' | 'stages'> & { level: string; stages: string[] };

/** The sink fields a change gives on top of `base` (a sink, or the defaults), by the rule of applySinkChange. */
function merged(base: Readonly<SinkSpec>, change: SinkChangeInput): Merged {
  const level = change.level ?? base.level;
  let stages: readonly string[] = base.stages;
  if (change.stages !== undefined) stages = change.stages;
  // A new level alone: a None sink needs no stages, and a sink that had none takes the default ones.
  else if (change.level !== undefined && level === 'None') stages = [];
  else if (change.level !== undefined && stages.length === 0) stages = DEFAULT_SINK.stages;
  const url = change.url ?? base.url;
  return {
    name: base.name,
    level,
    stages: [...stages],
    throttle: { qps: change.qps ?? base.throttle.qps, burst: change.burst ?? base.throttle.burst },
    ...(url !== undefined ? { url } : {}),
  };
}

/**
 * Checks a change as the AuditSink API would, as the sink it makes when there is none yet (fields
 * not given take the defaults): every error at once, exit 2. A checked change merged over a sink
 * the lab holds (checked when its state was read) is always a valid sink, so nothing checks again.
 */
export function checkSinkChange(change: SinkChangeInput): SinkChange {
  checkSink(merged({ ...DEFAULT_SINK, name: change.name }, change));
  return change as SinkChange;
}

/**
 * The sink after a change: fields not given keep the sink's values (a new sink: the defaults). A
 * level or stages given without a policy make a policy sink a plain one again.
 */
export function applySinkChange(existing: SinkState | undefined, change: SinkChange, now?: Date): SinkState {
  // Checked fields over a valid sink (or the defaults) make a valid sink: the casts say no more.
  if (existing === undefined) {
    return withPolicy(newSinkState(merged({ ...DEFAULT_SINK, name: change.name }, change) as SinkSpec, now), change);
  }
  return withPolicy({ ...existing, ...(merged(existing, change) as SinkSpec) }, change);
}

function withPolicy(sink: SinkState, change: SinkChange): SinkState {
  if (change.policy !== undefined) return { ...sink, policy: change.policy.source, policyDigest: change.policy.digest };
  if (change.level === undefined && change.stages === undefined) return sink;
  const { policy: _p, policyDigest: _d, ...plain } = sink;
  return plain;
}

export function withSink(sinks: readonly SinkState[], sink: SinkState): SinkState[] {
  const i = sinks.findIndex((s) => s.name === sink.name);
  return i >= 0 ? sinks.map((s, j) => (j === i ? sink : s)) : [...sinks, sink];
}
