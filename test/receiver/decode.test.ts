import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  decodeBatch,
  decodeBody,
  eventJson,
  isJsonContentType,
  nestingOver,
} from '../../src/receiver/decode.js';
import { eventList, makeEvent } from '../harness/events.js';

function refusal(text: string): { status: number; message: string } {
  try {
    decodeBody(text);
  } catch (err) {
    if (err instanceof DecodeError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('decoded');
}

describe('decodeBody', () => {
  it('takes a v1 EventList and puts kind and apiVersion first on every item', () => {
    const a = makeEvent();
    const b = makeEvent({ level: 'Metadata' });
    const out = decodeBody(eventList([a, b]));
    expect(out.map((e) => e.auditID)).toEqual([a.auditID, b.auditID]);
    for (const e of out)
      expect(eventJson(e).startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":')).toBe(true);
    expect(JSON.parse(eventJson(out[0]!))).toEqual({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...a });
    expect(out[0]!.requestObject).toEqual(a.requestObject);
  });

  it('converts v1beta1: drops the deprecated timestamp and metadata', () => {
    const ev = {
      ...makeEvent(),
      timestamp: '2020-01-01T00:00:00Z',
      metadata: { creationTimestamp: '2020-01-01T00:00:00Z' },
    };
    const [out] = decodeBody(eventList([ev], 'audit.k8s.io/v1beta1'));
    expect(JSON.parse(eventJson(out!)).apiVersion).toBe('audit.k8s.io/v1');
    expect(out).not.toHaveProperty('timestamp');
    expect(out).not.toHaveProperty('metadata');
    expect(out!.requestURI).toBe(ev.requestURI);
  });

  it('keeps an item with its own apiVersion by that version', () => {
    const ev = { kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', ...makeEvent(), timestamp: 'x' };
    const [out] = decodeBody(eventList([ev], 'audit.k8s.io/v1'));
    expect(out).not.toHaveProperty('timestamp');
  });

  it('takes a single Event and an array of Events and EventLists', () => {
    const one = { kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() };
    expect(decodeBody(JSON.stringify(one)).map((e) => e.auditID)).toEqual([one.auditID]);
    const a = makeEvent();
    const b = makeEvent();
    const arr = [one, JSON.parse(eventList([a, b], 'audit.k8s.io/v1beta1'))];
    expect(decodeBody(JSON.stringify(arr)).map((e) => e.auditID)).toEqual([one.auditID, a.auditID, b.auditID]);
  });

  it('writes a v1beta1 Event with its own kind and apiVersion as v1, once', () => {
    const ev = { kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', ...makeEvent() };
    const line = eventJson(decodeBody(JSON.stringify(ev))[0]!);
    expect(line.startsWith('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":')).toBe(true);
    expect(line.match(/"apiVersion":"audit/g)).toHaveLength(1);
  });

  it('takes an empty list', () => {
    expect(decodeBody(eventList([]))).toEqual([]);
    expect(decodeBody('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":null}')).toEqual([]);
  });

  it.each([
    ['malformed JSON', '{"kind":"EventList",', /malformed JSON/],
    ['a JSON string', '"hello"', /JSON string/],
    ['wrong kind', '{"kind":"PodList","apiVersion":"v1","items":[]}', /kind "PodList"/],
    ['no kind', '{"items":[]}', /no kind/],
    [
      'unsupported version',
      '{"kind":"EventList","apiVersion":"audit.k8s.io/v1alpha1","items":[]}',
      /unsupported apiVersion "audit.k8s.io\/v1alpha1"/,
    ],
    ['an item of another kind', eventList([{ ...makeEvent(), kind: 'Pod' }]), /items\[0\]: kind "Pod"/],
    ['an item without auditID', eventList([{ ...makeEvent(), auditID: undefined }]), /items\[0\]: no auditID/],
    [
      'an item with a bad stage',
      eventList([makeEvent(), { ...makeEvent(), stage: 'Done' }]),
      /items\[1\]: stage "Done"/,
    ],
    ['an item with a bad level', eventList([{ ...makeEvent(), level: 'All' }]), /level "All"/],
    ['nested arrays', '[[]]', /\[0\]: not a JSON object/],
  ])('refuses %s with a 400 and a one-line reason', (_what, text, want) => {
    const r = refusal(text);
    expect(r.status).toBe(400);
    expect(r.message).toMatch(want);
    expect(r.message).not.toContain('\n');
  });
});

describe('isJsonContentType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON', true],
    ['text/plain', false],
    ['application/x-www-form-urlencoded', false],
    [undefined, false],
  ])('%s -> %s', (h, want) => expect(isJsonContentType(h)).toBe(want));
});

describe('decodeBatch (EventLists parsed item by item)', () => {
  const a = JSON.stringify(makeEvent());
  const b = JSON.stringify(makeEvent({ level: 'Metadata' }));
  const head = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":';
  const outcome = (f: () => unknown) => {
    try {
      return { ok: f() };
    } catch (err) {
      return { err: (err as Error).message, status: (err as DecodeError).status };
    }
  };
  it.each([
    ['a list', `${head}[${a},${b}]}`],
    ['a list with whitespace', ` ${head} [ ${a} ,\n ${b} ] } `],
    ['items first', `{"items":[${a}],"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`],
    ['an empty list', `${head}[]}`],
    ['a trailing comma', `${head}[${a},]}`],
    ['a missing comma', `${head}[${a}${b}]}`],
    ['two commas', `${head}[${a},,${b}]}`],
    ['a malformed item', `${head}[${a},${b.slice(0, -1)}]}`],
    ['an item with trailing garbage', `${head}[${a.replace(/}$/, '}}')}]}`],
    ['a non-object item', `${head}[${a},3]}`],
    ['repeated items', `${head}[${a}],"items":[${b}]}`],
    ['a bad envelope', `${head}[${a}],}`],
    ['a wrong kind', `{"kind":"PodList","apiVersion":"v1","items":[${a}]}`],
    ['a wrong version', `{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[${a}]}`],
    ['a bad item field', `${head}[${a},${JSON.stringify({ ...makeEvent(), stage: 'Nope' })}]}`],
    ['a single Event', JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() })],
    ['an array', `[${head}[${a}]}]`],
    ['unicode', `${head}[${JSON.stringify({ ...makeEvent(), requestURI: '/\u00e9\u4e2d' })}]}`],
  ])('%s: the same events or the same refusal as parsing whole', (_what, text) => {
    const whole = outcome(() => decodeBody(text));
    const byItem = outcome(() => {
      const batch = decodeBatch(Buffer.from(text));
      return batch.heads.map((_, i) => batch.event(i));
    });
    expect(byItem).toEqual(whole);
  });
});

describe('nestingOver', () => {
  it('counts only the brackets outside strings, escaped quotes included', () => {
    expect(nestingOver('[[1]]', 2)).toBe(-1);
    expect(nestingOver('[[[1]]]', 2)).toBe(2);
    expect(nestingOver('{"a":"[[[[\\"{{{{","b":[1]}', 2)).toBe(-1);
    expect(nestingOver('["\\\\",[[1]]]', 2)).toBe(7);
  });

  it('refuses a body nested past the limit with a reason, whatever its shape', () => {
    expect(() => decodeBody(`${'['.repeat(600)}${']'.repeat(600)}`)).toThrow(/nested deeper than 512 levels/);
    expect(() => decodeBody(`${'['.repeat(600)}${']'.repeat(600)}`)).toThrow(DecodeError);
  });
});
