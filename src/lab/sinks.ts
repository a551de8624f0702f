/** A lab's sinks after a change (`sink create`): the merge rules, apart from where they are applied. */
import { checkSink, type SinkSpec } from '../audit/model.js';
import { newSinkState, type SinkState } from './state.js';

/** A sink as given on the command line, and which of its fields were given. */
export interface SinkChange {
  sink: SinkSpec;
  given: ReadonlySet<'level' | 'stages' | 'qps' | 'burst' | 'url'>;
}

/** The sink after an update: fields not given on the command line keep their values. */
export function mergeSink(existing: SinkState | undefined, o: SinkChange, now?: Date): SinkState {
  if (!existing) return newSinkState(o.sink, now);
  const next: SinkState = { ...existing, throttle: { ...existing.throttle } };
  if (o.given.has('level')) next.level = o.sink.level;
  if (o.given.has('stages')) next.stages = [...o.sink.stages];
  else if (o.given.has('level') && o.sink.level === 'None') next.stages = [];
  else if (o.given.has('level') && next.stages.length === 0) next.stages = [...o.sink.stages];
  if (o.given.has('qps')) next.throttle.qps = o.sink.throttle.qps;
  if (o.given.has('burst')) next.throttle.burst = o.sink.throttle.burst;
  if (o.given.has('url')) next.url = o.sink.url;
  checkSink(next);
  return next;
}

export function withSink(sinks: readonly SinkState[], sink: SinkState): SinkState[] {
  const i = sinks.findIndex((s) => s.name === sink.name);
  return i >= 0 ? sinks.map((s, j) => (j === i ? sink : s)) : [...sinks, sink];
}
