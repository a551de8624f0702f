import { describe, expect, it } from 'vitest';
import { LEVELS, type Level, levelRank, STAGES, type Stage } from '../../src/audit/model.js';
import { applySink, applySinks } from '../../src/receiver/apply.js';
import type { AuditEvent } from '../../src/receiver/decode.js';

function captured(level: Level, stage: Stage): AuditEvent {
  const ev: AuditEvent = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', level, auditID: `id-${level}-${stage}`, stage, verb: 'create' };
  // What the API server attaches at each level.
  if (levelRank(level) >= levelRank('Request')) ev.requestObject = { kind: 'Pod' };
  if (levelRank(level) >= levelRank('RequestResponse')) ev.responseObject = { kind: 'Pod', status: {} };
  ev.annotations = { a: 'b' };
  return ev;
}

const CAPTURED_LEVELS = LEVELS.filter((l) => l !== 'None');

describe('applySink: every captured level and stage against every sink level', () => {
  for (const capLevel of CAPTURED_LEVELS) {
    for (const stage of STAGES) {
      for (const sinkLevel of LEVELS) {
        it(`captured ${capLevel}/${stage}, sink ${sinkLevel}`, () => {
          const ev = captured(capLevel, stage);
          const before = structuredClone(ev);
          const out = applySink(ev, { name: 's', level: sinkLevel, stages: [stage] });
          expect(ev).toEqual(before); // the captured event is shared by every sink: never modified
          if (sinkLevel === 'None') {
            expect(out).toBeNull();
            return;
          }
          expect(out).not.toBeNull();
          const want = levelRank(sinkLevel) < levelRank(capLevel) ? sinkLevel : capLevel;
          expect(out!.level).toBe(want);
          expect('requestObject' in out!).toBe(levelRank(want) >= levelRank('Request'));
          expect('responseObject' in out!).toBe(levelRank(want) >= levelRank('RequestResponse'));
          expect(out!.annotations).toEqual({ a: 'b' });
          expect(Object.keys(out!).slice(0, 2)).toEqual(['kind', 'apiVersion']);
        });
      }
    }
  }
});

describe('applySink: stages', () => {
  for (const stage of STAGES) {
    it(`drops ${stage} for a sink without it, keeps it for one with it`, () => {
      const ev = captured('RequestResponse', stage);
      const others = STAGES.filter((s) => s !== stage);
      expect(applySink(ev, { name: 's', level: 'RequestResponse', stages: others })).toBeNull();
      expect(applySink(ev, { name: 's', level: 'RequestResponse', stages: [...others, stage] })).toBe(ev);
    });
  }

  it('strips objects present below their level even when the captured level claims less', () => {
    // Defensive: a Metadata event that carries a requestObject anyway still loses it for a Metadata sink.
    const ev = { ...captured('Metadata', 'ResponseComplete'), requestObject: { kind: 'Pod' } } as AuditEvent;
    const out = applySink(ev, { name: 's', level: 'Metadata', stages: ['ResponseComplete'] })!;
    expect(out.requestObject).toBeUndefined();
    expect(out.level).toBe('Metadata');
  });
});

describe('applySinks', () => {
  it('gives each sink its share in order and leaves out sinks that get nothing', () => {
    const events = [captured('RequestResponse', 'RequestReceived'), captured('RequestResponse', 'ResponseComplete'), captured('Request', 'ResponseComplete')];
    const out = applySinks(events, [
      { name: 'meta', level: 'Metadata', stages: ['ResponseComplete'] },
      { name: 'all', level: 'RequestResponse', stages: [...STAGES] },
      { name: 'off', level: 'None', stages: [] },
      { name: 'panics', level: 'Request', stages: ['Panic'] },
    ]);
    expect([...out.keys()]).toEqual(['meta', 'all']);
    expect(out.get('meta')!.map((e) => [e.auditID, e.level, e.requestObject])).toEqual([
      ['id-RequestResponse-ResponseComplete', 'Metadata', undefined],
      ['id-Request-ResponseComplete', 'Metadata', undefined],
    ]);
    expect(out.get('all')).toEqual(events);
  });
});
