import { describe, expect, it } from 'vitest';
import { LEVELS } from '../../src/audit/model.js';
import { decodeBatch } from '../../src/receiver/decode.js';
import { checkEventList } from '../../src/receiver/raw.js';
import { makeEvent } from '../harness/events.js';

const lineOf = (parts: Buffer[]) => Buffer.concat(parts).toString('utf8');

/** Every line a sink can ask for, built from the raw bytes and re-serialized: they must be the same. */
function checkBody(text: string, wantCompact: boolean[]): void {
  const body = Buffer.from(text);
  const raw = checkEventList(body)?.items;
  expect(raw).toBeDefined();
  expect(raw!.map((r) => r.compact)).toEqual(wantCompact);
  const fast = decodeBatch(body);
  const plain = decodeBatch(body, { fast: false });
  expect(fast.heads).toHaveLength(plain.heads.length);
  fast.heads.forEach((_, i) => {
    for (const level of [null, ...LEVELS.filter((l) => l !== 'None')]) {
      expect(lineOf(fast.line(i, level))).toBe(lineOf(plain.line(i, level)));
    }
  });
}

const list = (items: string[], apiVersion = 'audit.k8s.io/v1') =>
  `{"kind":"EventList","apiVersion":"${apiVersion}","metadata":{},"items":[${items.join(',')}]}`;

describe('raw items', () => {
  it('gives the same line as re-serializing, for every level, on compact items', () => {
    const items = [
      makeEvent(),
      makeEvent({ level: 'Request' }),
      makeEvent({ level: 'Metadata' }),
      // level last, objects first, a nested "level" and "requestObject" that must stay
      {
        requestObject: { level: 'x', requestObject: 1 },
        responseObject: [1, { a: '}' }],
        annotations: { level: 'Metadata' },
        auditID: 'a"b',
        stage: 'Panic',
        level: 'RequestResponse',
      },
      // strings with escapes, unicode and brackets
      { ...makeEvent(), requestURI: '/api?q=\\"{[\u00e9\u4e2d\ud83d\ude00\n', userAgent: 'x\\' },
      // a v1 item carrying its own kind and apiVersion
      { kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() },
      // numbers, booleans and null values at the top level
      { ...makeEvent({ level: 'Request' }), n: -1.5e3, t: true, f: false, z: null, arr: [] },
    ].map((e) => JSON.stringify(e));
    checkBody(
      list(items),
      items.map(() => true),
    );
  });

  it('drops v1beta1 timestamp and metadata from the raw bytes too', () => {
    const items = [
      { ...makeEvent(), timestamp: '2020-01-01T00:00:00Z', metadata: { creationTimestamp: null } },
      { timestamp: 't', ...makeEvent() },
    ].map((e) => JSON.stringify(e));
    checkBody(list(items, 'audit.k8s.io/v1beta1'), [true, true]);
  });

  it('refuses to use pretty-printed items, escaped keys and repeated keys (re-serialized instead)', () => {
    const pretty = JSON.stringify(makeEvent(), null, 2);
    const escapedKey = JSON.stringify(makeEvent()).replace('"level"', '"\\u006cevel"');
    const repeated = JSON.stringify(makeEvent({ level: 'Request' })).replace('{', '{"level":"Metadata",');
    const spaced = JSON.stringify(makeEvent()).replace('"verb":', '"verb" : ');
    checkBody(list([pretty, escapedKey, repeated, spaced, JSON.stringify(makeEvent())]), [
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it('handles whitespace around the list and its items', () => {
    const items = [JSON.stringify(makeEvent()), JSON.stringify(makeEvent())];
    checkBody(
      ` {\n "kind" : "EventList", "apiVersion":"audit.k8s.io/v1", "items" : [ ${items.join(' ,\n ')} ] , "metadata":{} }\n`,
      [true, true],
    );
  });

  it('finds no items in other shapes', () => {
    expect(checkEventList(Buffer.from('[{"kind":"EventList","items":[]}]'))).toBeNull();
    expect(checkEventList(Buffer.from('{"kind":"Event","auditID":"x"}'))).toBeNull();
    expect(checkEventList(Buffer.from('{"items":[1,2]}'))).toBeNull();
    expect(checkEventList(Buffer.from('{"items":[{"a":1}],"items":[]}'))).toBeNull();
    expect(checkEventList(Buffer.from('{"items":[{"a":"unterminated'))).toBeNull();
  });
});
