import { checkSink, type SinkSpec } from '../audit/model.js';
import { type ModeChoice, selectMode } from './mode.js';
import { type Capture, DEFAULT_SINK, type KindConfigApi, type LabState, newLabState, newSinkState, validateDuration } from './state.js';

/** What a lab is asked to be; left out, an existing lab keeps its value and a new one takes the default. */
export interface PlanRequest {
  name: string;
  mode?: ModeChoice;
  image?: string;
  kindConfigApi?: KindConfigApi;
  batchMaxWait?: string;
  port?: number;
  capture?: Capture;
  /** A sink to plan as if `sink create` had made it (merged over the lab's sinks). */
  sink?: Partial<SinkSpec> & { name: string };
}

/**
 * The state to render from: the lab's, or the one `up` would make, with the flags applied on top.
 * Pure, so the rules are tested without files.
 */
export function planState(existing: LabState | null, o: PlanRequest, now = new Date()): LabState {
  const keepLabMode = existing !== null && o.image === undefined;
  const selection = selectMode(o.mode ?? (keepLabMode ? existing.mode : 'auto'), o.image ?? existing?.image ?? undefined);
  const base = existing ?? {
    ...newLabState({ name: o.name, ...selection, now }),
    sinks: [newSinkState(DEFAULT_SINK, now)],
  };
  const state: LabState = {
    ...base,
    ...selection,
    webhook: { ...base.webhook },
    receiver: { ...base.receiver },
    sinks: [...base.sinks],
  };
  if (o.kindConfigApi) state.kindConfigApi = o.kindConfigApi;
  if (o.batchMaxWait !== undefined) state.webhook.batchMaxWait = validateDuration('--batch-max-wait', o.batchMaxWait);
  if (o.capture) state.capture = o.capture;
  if (o.port !== undefined) state.receiver.port = o.port;
  if (o.sink) {
    const i = state.sinks.findIndex((s) => s.name === o.sink!.name);
    const before = i >= 0 ? state.sinks[i]! : newSinkState({ ...DEFAULT_SINK, name: o.sink.name }, now);
    const after = { ...before, ...o.sink, throttle: { ...before.throttle, ...o.sink.throttle } };
    checkSink(after);
    if (i >= 0) state.sinks[i] = after;
    else state.sinks.push(after);
  }
  return state;
}
