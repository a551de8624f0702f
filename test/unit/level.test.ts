import { describe, expect, it } from 'vitest';
import { eventAtLevel, membersAtLevel } from '../../src/audit/level.js';
import { LEVELS, type Level, levelRank, STAGES, type Stage } from '../../src/audit/model.js';
import type { AuditEvent } from '../../src/receiver/decode.js';

function captured(level: Level, stage: Stage): AuditEvent {
  const ev: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level,
    auditID: `id-${level}-${stage}`,
    stage,
    verb: 'create',
  };
  // What the API server attaches at each level.
  if (levelRank(level) >= levelRank('Request')) ev.requestObject = { kind: 'Pod' };
  if (levelRank(level) >= levelRank('RequestResponse')) ev.responseObject = { kind: 'Pod', status: {} };
  ev.annotations = { a: 'b' };
  return ev;
}

const CAPTURED_LEVELS = LEVELS.filter((l) => l !== 'None');

describe('eventAtLevel for a sink (keepLowerLevel): every captured level and stage against every sink level', () => {
  for (const capLevel of CAPTURED_LEVELS) {
    for (const stage of STAGES) {
      for (const sinkLevel of CAPTURED_LEVELS) {
        it(`captured ${capLevel}/${stage}, sink ${sinkLevel}`, () => {
          const ev = captured(capLevel, stage);
          const before = structuredClone(ev);
          const out = eventAtLevel(ev, sinkLevel, { keepLowerLevel: true });
          expect(ev).toEqual(before); // the captured event is shared by every sink: never modified
          const want = levelRank(sinkLevel) < levelRank(capLevel) ? sinkLevel : capLevel;
          expect(out.level).toBe(want);
          expect('requestObject' in out).toBe(levelRank(want) >= levelRank('Request'));
          expect('responseObject' in out).toBe(levelRank(want) >= levelRank('RequestResponse'));
          expect(out.annotations).toEqual({ a: 'b' });
          expect(Object.keys(out).slice(0, 2)).toEqual(['kind', 'apiVersion']);
          if (want === capLevel) expect(out).toBe(ev); // nothing to cut: no copy
        });
      }
    }
  }

  it('strips objects present below their level even when the captured level claims less', () => {
    // Defensive: a Metadata event that carries a requestObject anyway still loses it for a Metadata sink.
    const ev = { ...captured('Metadata', 'ResponseComplete'), requestObject: { kind: 'Pod' } } as AuditEvent;
    const out = eventAtLevel(ev, 'Metadata', { keepLowerLevel: true });
    expect(out.requestObject).toBeUndefined();
    expect(out.level).toBe('Metadata');
  });

  it('labels the event with the level asked for without keepLowerLevel (what `policy test` estimates)', () => {
    expect(eventAtLevel(captured('Metadata', 'Panic'), 'RequestResponse').level).toBe('RequestResponse');
  });
});

describe('membersAtLevel (the raw variant) agrees with eventAtLevel', () => {
  for (const capLevel of CAPTURED_LEVELS) {
    for (const sinkLevel of CAPTURED_LEVELS) {
      it(`captured ${capLevel}, sink ${sinkLevel}`, () => {
        const ev = captured(capLevel, 'ResponseComplete');
        const cut = eventAtLevel(ev, sinkLevel, { keepLowerLevel: true });
        const members = membersAtLevel(
          { level: ev.level, requestObject: ev.requestObject, responseObject: ev.responseObject },
          sinkLevel,
        );
        expect(members.level).toBe(cut.level);
        expect(members.requestObject).toBe(cut.requestObject);
        expect(members.responseObject).toBe(cut.responseObject);
      });
    }
  }
});
