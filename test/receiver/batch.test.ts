/** The receiver's fast path: EventLists checked by the strict scanner and routed without JSON.parse. */
import { describe, expect, it } from 'vitest';
import { decodeBatch, decodeBody, type DecodeError } from '../../src/receiver/decode.js';
import { checkEventList } from '../../src/receiver/raw.js';
import { BodyPool } from '../../src/receiver/body.js';
import { DigestMap } from '../../src/receiver/store/digestMap.js';
import { dedupeKey } from '../../src/receiver/store/lines.js';
import { RecentKeys } from '../../src/receiver/store/sharedKeys.js';
import { makeEvent } from '../harness/events.js';

const head = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":';
const list = (items: string[], apiVersion = 'audit.k8s.io/v1') =>
  `{"kind":"EventList","apiVersion":"${apiVersion}","metadata":{},"items":[${items.join(',')}]}`;
const outcome = (f: () => unknown) => {
  try {
    return { ok: f() };
  } catch (err) {
    return { err: (err as Error).message, status: (err as DecodeError).status };
  }
};
/** Every event of a batch in full, as the receiver would take them out of it. */
const allEvents = (text: string) => {
  const b = decodeBatch(Buffer.from(text));
  return b.heads.map((_, i) => b.event(i));
};

describe('checkEventList (a strict JSON grammar)', () => {
  const a = JSON.stringify(makeEvent());
  it.each([
    ['a number with a leading zero', '{"n":01}'],
    ['a bare minus', '{"n":-}'],
    ['a dot without digits', '{"n":1.}'],
    ['an exponent without digits', '{"n":1e}'],
    ['a bad literal', '{"n":tru}'],
    ['a raw control character', '{"s":"a\tb"}'],
    ['a bad escape', '{"s":"\\x"}'],
    ['a short unicode escape', '{"s":"\\u12"}'],
    ['a trailing comma in an object', '{"s":1,}'],
    ['a trailing comma in an array', '{"s":[1,]}'],
    ['a missing colon', '{"s" 1}'],
    ['single quotes', "{'s':1}"],
    ['an unterminated string', '{"s":"abc'],
    ['an unterminated object', '{"s":{"t":1}'],
  ])('refuses an item with %s', (_what, item) => {
    expect(checkEventList(Buffer.from(`${head}[${a},${item}]}`))).toBeNull();
    expect(() => JSON.parse(`${head}[${a},${item}]}`)).toThrow();
  });

  it('accepts what JSON.parse accepts, and finds the items and their routing members', () => {
    const items = [
      a,
      '{"auditID":"x","stage":"Panic","level":"Metadata","n":[-0,1.5e+3,2E-2,0.25,true,false,null],"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00","o":{"a":{"b":[[],{}]}}}',
      ' { "auditID" : "y" , "stage":"ResponseComplete", "level":"Request" } ',
    ];
    const text = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${items.join(',')}]}`;
    expect(() => JSON.parse(text)).not.toThrow();
    const l = checkEventList(Buffer.from(text));
    expect(l).not.toBeNull();
    expect(l!.items.map((i) => i.compact)).toEqual([true, true, false]);
    const b = Buffer.from(text);
    const id = l!.items[1]!.auditID!;
    expect(b.toString('utf8', id.start, id.end)).toBe('"x"');
  });

  it('finds no list in other shapes', () => {
    expect(checkEventList(Buffer.from(`[${head}[${a}]}]`))).toBeNull();
    expect(checkEventList(Buffer.from('{}'))).toBeNull();
    expect(checkEventList(Buffer.from(`${head}[${a}],"items":[]}`))).toBeNull();
  });
});

describe('decodeBatch', () => {
  const a = JSON.stringify(makeEvent());
  const b = JSON.stringify(makeEvent({ level: 'Metadata', stage: 'RequestReceived' }));
  it.each([
    ['a list', `${head}[${a},${b}]}`],
    ['a list with whitespace', ` ${head} [ ${a} ,\n ${b} ] } `],
    ['pretty-printed items', `${head}[${JSON.stringify(makeEvent(), null, 2)}]}`],
    ['items first', `{"items":[${a}],"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`],
    [
      'v1beta1 members',
      list(
        [JSON.stringify({ ...makeEvent(), timestamp: 't', metadata: { creationTimestamp: null } })],
        'audit.k8s.io/v1beta1',
      ),
    ],
    [
      'v1 items with their own kind and version',
      list([JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', ...makeEvent(), timestamp: 't' })]),
    ],
    ['an empty list', `${head}[]}`],
    ['a trailing comma', `${head}[${a},]}`],
    ['a malformed item', `${head}[${a},${b.slice(0, -1)}]}`],
    ['a non-object item', `${head}[${a},3]}`],
    ['a bad envelope', `${head}[${a}],}`],
    ['a wrong version', `{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[${a}]}`],
    ['an item of another kind', list([a, JSON.stringify({ ...makeEvent(), kind: 'Pod' })])],
    ['an item of another version', list([JSON.stringify({ ...makeEvent(), apiVersion: 'v1' })])],
    ['a bad stage', list([a, JSON.stringify({ ...makeEvent(), stage: 'Nope' })])],
    ['a bad level', list([JSON.stringify({ ...makeEvent(), level: 'All' })])],
    ['a level that is not a string', list([JSON.stringify({ ...makeEvent(), level: 3 })])],
    ['an empty auditID', list([JSON.stringify({ ...makeEvent(), auditID: '' })])],
    ['no auditID', list([JSON.stringify({ ...makeEvent(), auditID: undefined })])],
    ['an escaped auditID', list([JSON.stringify({ ...makeEvent(), auditID: 'a"b' })])],
    ['a repeated stage (the last wins)', list([JSON.stringify(makeEvent()).replace('{', '{"stage":"Nope",')])],
    ['an escaped key', list([JSON.stringify(makeEvent()).replace('"level"', '"\\u006cevel"')])],
    ['unicode', list([JSON.stringify({ ...makeEvent(), auditID: 'é-中', requestURI: '/\u00e9\u4e2d' })])],
    ['a single Event', JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', ...makeEvent() })],
    ['an array', `[${head}[${a}]}]`],
  ])('%s: the same events or the same refusal as parsing whole', (_what, text) => {
    expect(outcome(() => allEvents(text))).toEqual(outcome(() => decodeBody(text)));
  });

  it('gives heads that agree with the events', () => {
    const text = list([a, b, JSON.stringify({ ...makeEvent({ level: 'Request' }), requestObject: null })]);
    const batch = decodeBatch(Buffer.from(text));
    const events = decodeBody(text);
    expect(batch.heads).toHaveLength(3);
    batch.heads.forEach((h, i) => {
      const ev = events[i]!;
      expect([h.auditID, h.stage, h.level]).toEqual([ev.auditID, ev.stage, ev.level]);
      for (const k of ['requestObject', 'responseObject', 'timestamp', 'metadata'] as const)
        expect(h[k] !== undefined).toBe(ev[k] !== undefined);
    });
  });

  it('refuses invalid UTF-8 only as decodeBody does (it decodes it with replacement characters)', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${head}[{"auditID":"`),
      Buffer.from([0xff]),
      Buffer.from('","stage":"Panic","level":"None"}]}'),
    ]);
    const batch = decodeBatch(bytes);
    expect(batch.event(0).auditID).toBe('\ufffd');
  });
});

describe('dedupe digests', () => {
  it('tells keys apart by auditID and stage', () => {
    expect(dedupeKey('a', 'Panic')).toEqual(dedupeKey('a', 'Panic'));
    expect(dedupeKey('a', 'Panic')).not.toEqual(dedupeKey('a', 'ResponseComplete'));
    expect(dedupeKey('ab', 'c')).not.toEqual(dedupeKey('a', 'bc'));
  });

  it('DigestMap gets, sets and deletes through growth and churn', () => {
    const m = new DigestMap<number>(4);
    const want = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const id = `e-${i % 1500}`;
      const k = dedupeKey(id, 'Panic');
      if (i % 3 === 2) {
        expect(m.delete(k)).toBe(want.delete(id));
      } else {
        m.set(k, i);
        want.set(id, i);
      }
    }
    expect(m.size).toBe(want.size);
    for (let i = 0; i < 1500; i++) expect(m.get(dedupeKey(`e-${i}`, 'Panic'))).toBe(want.get(`e-${i}`));
  });

  it('RecentKeys forgets the oldest beyond its cap', () => {
    const r = new RecentKeys(3, Infinity);
    for (const id of ['a', 'b', 'c', 'b', 'd']) r.add(dedupeKey(id, 'Panic'), 0);
    expect(['a', 'b', 'c', 'd'].map((id) => r.has(dedupeKey(id, 'Panic')))).toEqual([false, true, true, true]);
  });
});

describe('BodyPool', () => {
  it('hands out buffers of the size asked and reuses what comes back', () => {
    const p = new BodyPool(2);
    const a = p.take(100_000);
    expect(a.length).toBe(100_000);
    p.give(a);
    const b = p.take(90_000);
    expect(b.length).toBe(90_000);
    expect(b.buffer).toBe(a.buffer);
    expect(p.take(90_000).buffer).not.toBe(a.buffer);
  });
});

describe('RecentKeys under churn', () => {
  it('agrees with a plain set of the last N keys, digests with a zero half included', () => {
    const cap = 50;
    const r = new RecentKeys(cap, Infinity);
    const order: string[] = [];
    const keyOf = (n: number) =>
      n % 7 === 0 ? { hi: n % 3, lo: 0 } : n % 11 === 0 ? { hi: 0, lo: (n % 5) + 2 } : dedupeKey(`e-${n}`, 'Panic');
    for (let i = 0; i < 3000; i++) {
      const n = (i * 7919) % 400;
      const k = keyOf(n);
      const id = `${k.hi}/${k.lo}`;
      if (!order.includes(id)) {
        order.push(id);
        if (order.length > cap) order.shift();
      }
      r.add(k, i);
      if (i % 97 === 0) {
        for (let m = 0; m < 400; m++) {
          const km = keyOf(m);
          expect(r.has(km)).toBe(order.includes(`${km.hi}/${km.lo}`));
        }
      }
    }
  });
});

describe('BodyPool ownership', () => {
  it('never takes back memory it did not make', () => {
    const p = new BodyPool(4);
    const foreign = Buffer.allocUnsafeSlow(128 * 1024);
    p.give(foreign);
    expect(p.take(100_000).buffer).not.toBe(foreign.buffer);
    const a = p.take(70_000);
    p.give(a);
    p.give(a); // twice: kept once
    expect(p.take(70_000).buffer).toBe(a.buffer);
    expect(p.take(70_000).buffer).not.toBe(a.buffer);
  });
});
