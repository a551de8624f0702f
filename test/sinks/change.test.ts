/** One rule for a sink change (src/lab/sinks.ts): checked once, merged by applySinkChange, defaults from DEFAULT_SINK. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SINK } from '../../src/audit/model.js';
import { UserError } from '../../src/errors.js';
import { applySinkChange, checkSinkChange } from '../../src/lab/sinks.js';
import { newSinkState, type SinkState } from '../../src/lab/state.js';
import { BASELINE_CAPTURE } from '../../src/render/policyFile.js';

const NOW = new Date('2026-01-01T00:00:00Z');
const spec = (s: SinkState) => ({
  name: s.name,
  level: s.level,
  stages: s.stages,
  throttle: s.throttle,
  ...(s.url !== undefined ? { url: s.url } : {}),
});
const existing = (): SinkState =>
  newSinkState({ name: 's', level: 'Request', stages: ['RequestReceived'], throttle: { qps: 3, burst: 4 } }, NOW);

describe('applySinkChange', () => {
  it('a new sink takes the defaults for every field not given', () => {
    expect(spec(applySinkChange(undefined, { name: 'n' }, NOW))).toEqual({ ...DEFAULT_SINK, name: 'n' });
    expect(spec(applySinkChange(undefined, { name: 'n', level: 'RequestResponse', qps: 2 }, NOW))).toEqual({
      name: 'n',
      level: 'RequestResponse',
      stages: ['ResponseComplete'],
      throttle: { qps: 2, burst: 15 },
    });
    // A None sink needs no stages.
    expect(applySinkChange(undefined, { name: 'n', level: 'None' }, NOW).stages).toEqual([]);
  });

  it('an existing sink keeps every field not given, and its token', () => {
    const before = existing();
    const after = applySinkChange(before, { name: 's', qps: 9 });
    expect(spec(after)).toEqual({
      name: 's',
      level: 'Request',
      stages: ['RequestReceived'],
      throttle: { qps: 9, burst: 4 },
    });
    expect(after.token).toBe(before.token);
    expect(spec(applySinkChange(before, { name: 's', url: 'https://x.example/in' }))).toMatchObject({
      url: 'https://x.example/in',
    });
  });

  it('a level alone: None drops the stages, and a sink with none takes the default stages', () => {
    const none = applySinkChange(existing(), { name: 's', level: 'None' });
    expect(none.stages).toEqual([]);
    expect(applySinkChange(none, { name: 's', level: 'Metadata' }).stages).toEqual(DEFAULT_SINK.stages);
  });

  it('a level or stages make a policy sink plain again; a policy sets both fields', () => {
    const policy = applySinkChange(existing(), {
      name: 's',
      level: 'Metadata',
      stages: ['ResponseComplete'],
      policy: { source: 'preset:metadata', digest: 'd' },
    });
    expect(policy).toMatchObject({ policy: 'preset:metadata', policyDigest: 'd' });
    expect(applySinkChange(policy, { name: 's', qps: 1 })).toMatchObject({ policy: 'preset:metadata' });
    const plain = applySinkChange(policy, { name: 's', stages: ['Panic'] });
    expect('policy' in plain || 'policyDigest' in plain).toBe(false);
  });

  it('never shares the defaults: a new sink is a copy', () => {
    const s = applySinkChange(undefined, { name: 'n' }, NOW);
    expect(s.stages).not.toBe(DEFAULT_SINK.stages);
    expect(s.throttle).not.toBe(DEFAULT_SINK.throttle);
  });

  it("the API server's baseline capture is what the default sink needs", () => {
    expect(BASELINE_CAPTURE).toEqual({ level: DEFAULT_SINK.level, stages: DEFAULT_SINK.stages });
  });
});

describe('checkSinkChange', () => {
  it('checks the change as the sink it makes: every error at once, as a UserError', () => {
    expect(checkSinkChange({ name: 'ok', level: 'None' })).toEqual({ name: 'ok', level: 'None' });
    let err: unknown;
    try {
      checkSinkChange({ name: 'Bad_Name', level: 'Loud', qps: 0.5 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message).toContain('NAME: Invalid value: "Bad_Name"');
    expect(message).toContain('--level: Unsupported value: "Loud"');
    expect(message).toContain('--qps: Invalid value: 0.5');
  });
});
