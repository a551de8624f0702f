import { stringify } from 'yaml';
import { DEFAULT_SINK, type Level, levelRank, type SinkSpec, STAGES, type Stage } from '../audit/model.js';
import type { Capture } from '../lab/state.js';

export interface CapturePolicy {
  level: Level;
  stages: Stage[];
}

/** What `up` captures before any sink exists: what the default sink needs. */
export const BASELINE_CAPTURE: Readonly<CapturePolicy> = { level: DEFAULT_SINK.level, stages: DEFAULT_SINK.stages };

/**
 * The single level and stage set the API server must capture so that every sink can be derived
 * from it: the highest level and the union of stages. Sinks at None need
 * nothing. The baseline keeps the default sink covered, so creating it never restarts the server.
 */
export function captureFor(sinks: readonly Pick<SinkSpec, 'level' | 'stages'>[], capture: Capture): CapturePolicy {
  if (capture === 'full') return { level: 'RequestResponse', stages: [...STAGES] };
  let level: Level = BASELINE_CAPTURE.level;
  const stages = new Set<Stage>(BASELINE_CAPTURE.stages);
  for (const s of sinks) {
    if (s.level === 'None') continue;
    if (levelRank(s.level) > levelRank(level)) level = s.level;
    for (const st of s.stages) stages.add(st);
  }
  return { level, stages: STAGES.filter((s) => stages.has(s)) };
}

/** Whether a capture already yields everything a sink needs (no API server restart). */
export function covers(capture: CapturePolicy, sink: Pick<SinkSpec, 'level' | 'stages'>): boolean {
  if (sink.level === 'None') return true;
  return levelRank(capture.level) >= levelRank(sink.level) && sink.stages.every((s) => capture.stages.includes(s));
}

/** The audit.k8s.io/v1 Policy for a capture: one rule, and every other stage omitted. */
export function policyObject(capture: CapturePolicy): Record<string, unknown> {
  const omitStages = STAGES.filter((s) => !capture.stages.includes(s));
  const policy: Record<string, unknown> = { apiVersion: 'audit.k8s.io/v1', kind: 'Policy' };
  if (omitStages.length > 0) policy.omitStages = omitStages;
  policy.rules = [{ level: capture.level }];
  return policy;
}

export function renderPolicy(capture: CapturePolicy): string {
  return stringify(policyObject(capture), { lineWidth: 0 });
}
