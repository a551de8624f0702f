/**
 * Static mode: the API server captures once for every sink, and the receiver gives each sink what
 * the API server would have sent to an AuditSink with that level and stages (the dynamic backend's
 * enforcement in k8s.io/apiserver: omitted stages dropped, objects stripped below their level).
 * Pure: the captured event is never modified, since every sink sees the same one.
 */
import { type Level, levelRank, type Stage } from '../audit/model.js';
import type { AuditEvent, EventHead } from './decode.js';
import type { LineMembers } from './raw.js';

export interface SinkFilter {
  name: string;
  level: Level;
  stages: readonly Stage[];
}

const RANK_REQUEST = levelRank('Request');
const RANK_REQUEST_RESPONSE = levelRank('RequestResponse');

/** The event as the sink would have received it, or null when the sink would not have got it. */
export function applySink(event: AuditEvent, sink: SinkFilter): AuditEvent | null {
  if (sink.level === 'None') return null;
  if (!sink.stages.includes(event.stage)) return null;
  const rank = levelRank(sink.level);
  const lower = rank < levelRank(event.level);
  const stripRequest = rank < RANK_REQUEST && event.requestObject !== undefined;
  const stripResponse = rank < RANK_REQUEST_RESPONSE && event.responseObject !== undefined;
  if (!lower && !stripRequest && !stripResponse) return event;
  // A shallow copy keeps the field order, so the stored line reads like the API server's own.
  const out = { ...event };
  // An event captured below the sink's level keeps its own level: it holds no more than that.
  if (lower) out.level = sink.level;
  if (stripRequest) delete out.requestObject;
  if (stripResponse) delete out.responseObject;
  return out;
}

/**
 * What applySink would change, without copying the event: its level and the members that may be
 * dropped (each undefined when dropped). For building a line from the body's bytes, where a shallow
 * copy of every event per level was a fifth of the receiver's time. The caller checks the stage.
 */
export function appliedMembers(event: EventHead, level: Level): LineMembers {
  const rank = levelRank(level);
  return {
    level: rank < levelRank(event.level) ? level : event.level,
    requestObject: rank < RANK_REQUEST ? undefined : event.requestObject,
    responseObject: rank < RANK_REQUEST_RESPONSE ? undefined : event.responseObject,
    timestamp: event.timestamp,
    metadata: event.metadata,
  };
}

/** Each sink's share of a batch, in the batch's order; sinks that get nothing are left out. */
export function applySinks(events: readonly AuditEvent[], sinks: readonly SinkFilter[]): Map<string, AuditEvent[]> {
  const out = new Map<string, AuditEvent[]>();
  for (const sink of sinks) {
    const kept: AuditEvent[] = [];
    for (const ev of events) {
      const applied = applySink(ev, sink);
      if (applied) kept.push(applied);
    }
    if (kept.length > 0) out.set(sink.name, kept);
  }
  return out;
}
