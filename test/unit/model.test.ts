import { describe, expect, it } from 'vitest';
import { splitStages, validateSink, validateWebhookUrl } from '../../src/audit/model.js';

const ok = { name: 'default', level: 'Metadata', stages: ['ResponseComplete'], throttle: { qps: 10, burst: 15 } };

describe('validateSink follows AuditSink validation', () => {
  it('accepts the classic sink', () => {
    expect(validateSink(ok)).toEqual([]);
  });

  it.each([
    [
      'unknown level',
      { level: 'Everything' },
      'spec.policy.level',
      '--level',
      'Unsupported value: "Everything": supported values: "Metadata", "None", "Request", "RequestResponse"',
    ],
    ['empty level', { level: '' }, 'spec.policy.level', '--level', 'Required value'],
    [
      'unknown stage',
      { stages: ['ResponseComplete', 'Done'] },
      'spec.policy.stages[1]',
      '--stage',
      'Invalid value: "Done": allowed stages are Panic,RequestReceived,ResponseComplete,ResponseStarted',
    ],
    ['no stages above None', { stages: [] }, 'spec.policy.stages', '--stage', 'Required value'],
    [
      'qps 0',
      { throttle: { qps: 0, burst: 15 } },
      'spec.webhook.throttle.qps',
      '--qps',
      'Invalid value: 0: qps must be a positive number',
    ],
    [
      'negative burst',
      { throttle: { qps: 1, burst: -1 } },
      'spec.webhook.throttle.burst',
      '--burst',
      'Invalid value: -1: burst must be a positive number',
    ],
    [
      'fractional qps',
      { throttle: { qps: 0.5, burst: 15 } },
      'spec.webhook.throttle.qps',
      '--qps',
      'Invalid value: 0.5: qps must be a whole number (an int64)',
    ],
    [
      'fractional burst',
      { throttle: { qps: 1, burst: 1.5 } },
      'spec.webhook.throttle.burst',
      '--burst',
      'Invalid value: 1.5: burst must be a whole number (an int64)',
    ],
    ['upper-case name', { name: 'MySink' }, 'metadata.name', 'NAME', 'a lowercase RFC 1123 subdomain'],
    ['name with underscore', { name: 'my_sink' }, 'metadata.name', 'NAME', 'a lowercase RFC 1123 subdomain'],
    ['name ending in a dash', { name: 'sink-' }, 'metadata.name', 'NAME', 'a lowercase RFC 1123 subdomain'],
    ['name too long', { name: 'a'.repeat(254) }, 'metadata.name', 'NAME', 'must be no more than 253 characters'],
  ])('%s', (_, change, field, flag, message) => {
    const errs = validateSink({ ...ok, ...change });
    expect(errs.length).toBeGreaterThan(0);
    expect(errs[0]).toMatchObject({ field, flag });
    expect(errs[0]!.message).toContain(message);
  });

  it('lets a None sink have no stages', () => {
    expect(validateSink({ ...ok, level: 'None', stages: [] })).toEqual([]);
  });

  it('accepts dotted DNS-1123 subdomain names', () => {
    expect(validateSink({ ...ok, name: 'team.audit-1' })).toEqual([]);
  });

  it('replaces stage errors by the missing-stages error, as upstream does', () => {
    const errs = validateSink({ ...ok, level: 'Bogus', stages: [] });
    expect(errs.map((e) => e.field)).toEqual(['spec.policy.stages']);
  });
});

describe('validateWebhookUrl', () => {
  it.each([
    ['https://example.com/audit', null],
    ['http://127.0.0.1:8080', null],
    ['https://user:pw@example.com', 'user information is not permitted'],
    ['https://example.com/a?x=1', 'query parameters are not permitted'],
    ['https://example.com/a#frag', 'fragments are not permitted'],
    ['not a url', 'url must be a valid URL'],
    ['ftp://example.com', 'scheme must be https or http'],
  ])('%s', (url, problem) => {
    const errs = validateWebhookUrl(url);
    if (problem === null) expect(errs).toEqual([]);
    else expect(errs.map((e) => e.message).join('\n')).toContain(problem);
  });
});

describe('splitStages', () => {
  it('takes repeated and comma-separated flags, drops duplicates and blanks', () => {
    expect(splitStages(['RequestReceived,ResponseComplete', 'ResponseComplete', ' Panic ', ''])).toEqual([
      'RequestReceived',
      'ResponseComplete',
      'Panic',
    ]);
  });
});
