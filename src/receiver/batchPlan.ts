/**
 * What each sink keeps of a batch: its stages, the events cut to its level, or its own policy; as
 * lines for the store, and the events to forward once they are stored.
 */
import { eventAtLevel } from '../audit/level.js';
import { levelRank } from '../audit/model.js';
import { eventAttributes, type PolicyEvaluator, stageLogged } from '../audit/policyEngine.js';
import type { Mode } from '../lab/mode.js';
import type { SinkState } from '../lab/state.js';
import { type AuditEvent, type DecodedBatch, eventJson } from './decode.js';
import type { Target } from './routes.js';
import { dedupeKey, jsonLine, type Line } from './store/lines.js';

export interface ReceiverConfig {
  mode: Mode;
  sinks: readonly SinkState[];
  /**
   * static mode: the evaluators of sinks made with --policy; null for one whose policy could not
   * be loaded, which then stores nothing rather than more than its policy allows.
   */
  policies?: ReadonlyMap<string, PolicyEvaluator | null>;
  /** static mode: where a sink's stored events also go (`sink create --url`); never waited for. */
  forward?: ReadonlyMap<string, (events: readonly AuditEvent[]) => void>;
}

/** Lines to store per sink, and what to forward once they are stored. */
export interface StorePlan {
  groups: Map<string, Line[]>;
  forwardStored: (() => void) | null;
}

/** The lines a batch makes in each stream it belongs to (nothing written yet). */
export function planBatch(target: Target, batch: DecodedBatch, config: ReceiverConfig): StorePlan {
  const { heads } = batch;
  const groups = new Map<string, Line[]>();
  let forwardStored: (() => void) | null = null;
  if (target.kind === 'sink') {
    groups.set(
      target.sink.name,
      heads.map((h, i) => ({ key: dedupeKey(h.auditID, h.stage), parts: batch.line(i, null) })),
    );
  } else {
    const sinks = config.sinks.filter((s) => s.level !== 'None' && s.stages.length > 0);
    const ranks = sinks.map((s) => levelRank(s.level));
    const lists = sinks.map(() => [] as Line[]);
    const forward = config.forward;
    const forwarded = sinks.map((s) => (forward?.has(s.name) ? ([] as AuditEvent[]) : null));
    // Sinks of one level get the same line: make each event's line once per level, not per sink.
    const byLevel: (Line | undefined)[] = [undefined, undefined, undefined, undefined];
    for (let e = 0; e < heads.length; e++) {
      const head = heads[e]!;
      const key = dedupeKey(head.auditID, head.stage);
      byLevel.fill(undefined);
      for (let i = 0; i < sinks.length; i++) {
        const sink = sinks[i]!;
        if (sink.policy !== undefined) {
          const out = underPolicy(batch.event(e), config.policies?.get(sink.name));
          if (out === null) continue;
          lists[i]!.push(jsonLine(key, eventJson(out)));
          forwarded[i]?.push(out);
          continue;
        }
        if (!sink.stages.includes(head.stage)) continue;
        const rank = ranks[i]!;
        let l = byLevel[rank];
        if (l === undefined) l = byLevel[rank] = { key, parts: batch.line(e, sink.level) };
        lists[i]!.push(l);
        forwarded[i]?.push(eventAtLevel(batch.event(e), sink.level, { keepLowerLevel: true }));
      }
    }
    sinks.forEach((s, i) => {
      if (lists[i]!.length > 0) groups.set(s.name, lists[i]!);
    });
    // Only a batch that was stored goes on, so the copy outside never has what the lab lacks.
    forwardStored = () =>
      sinks.forEach((s, i) => {
        const evs = forwarded[i];
        if (evs && evs.length > 0) forward!.get(s.name)!(evs);
      });
  }
  return { groups, forwardStored };
}

/**
 * The event as a sink with a full policy gets it: the policy's decision for the request, as the
 * API server would have made it, applied to what was captured; null when it logs nothing.
 */
function underPolicy(ev: AuditEvent, evaluator: PolicyEvaluator | null | undefined): AuditEvent | null {
  if (!evaluator) return null;
  const d = evaluator.evaluate(eventAttributes(ev));
  if (!stageLogged(d, ev.stage)) return null;
  return eventAtLevel(ev, d.level, { omitManagedFields: d.omitManagedFields, keepLowerLevel: true });
}
