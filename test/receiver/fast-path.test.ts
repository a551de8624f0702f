/**
 * The receiver's fast decode path against its oracle, the plain path (JSON.parse the body,
 * eventAtLevel, JSON.stringify each line), over bodies generated from a seeded PRNG: EventLists and
 * single Events, v1 and v1beta1, odd whitespace, unicode and escapes, large and nested objects,
 * managedFields, every level and stage, and broken bodies. For each body both paths must give the
 * same refusal, or the same heads, events and lines for a sink at every level and stage
 * combination. Lines of bodies that JSON.stringify wrote must be the same bytes; the fast path keeps
 * the sender's own spelling (a \u escape, 1E2), so other bodies' lines must be the same JSON.
 */
import { describe, expect, it } from 'vitest';
import { LEVELS, type Level, STAGES, type Stage } from '../../src/audit/model.js';
import { type DecodedBatch, decodeBatch } from '../../src/receiver/decode.js';
import { checkEventList } from '../../src/receiver/raw.js';
import { mulberry32, type Rng } from '../rng.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const SEED = 0x5eed12;
const BODIES = 300;
const V1 = 'audit.k8s.io/v1';
const V1BETA1 = 'audit.k8s.io/v1beta1';
const SINK_LEVELS = LEVELS.filter((l) => l !== 'None');
/** Every sink a static-mode lab can have: each level with each non-empty set of stages. */
const SINKS: { level: Level; stages: Stage[] }[] = SINK_LEVELS.flatMap((level) =>
  Array.from({ length: 15 }, (_, m) => ({ level, stages: STAGES.filter((_, b) => ((m + 1) >> b) & 1) })),
);

class Gen {
  constructor(readonly r: Rng) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }

  // Plain text, quotes and backslashes, controls, Latin-1, CJK, astral, line separators, brackets.
  static readonly CHARS = [
    ...'abcXYZ019 -_.:/?=&<>',
    '"',
    '\\',
    '\n',
    '\t',
    '\u0001',
    '\u001f',
    'é',
    'ñ',
    '中',
    '文',
    '😀',
    '\u2028',
    '\u2029',
    '{',
    '}',
    '[',
    ']',
    ',',
  ];

  string(max = 12): string {
    if (this.chance(0.02)) return 'x'.repeat(2000 + this.int(20000));
    let s = '';
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.chance(0.7) ? String.fromCharCode(97 + this.int(26)) : this.pick(Gen.CHARS);
    return s;
  }

  number(): number {
    switch (this.int(5)) {
      case 0:
        return this.int(1000);
      case 1:
        return -this.int(1e9);
      case 2:
        return Math.round(this.r() * 1e6) / 100;
      case 3:
        return this.pick([0, 1e21, 1.5e-7, 2 ** 53, -0.5]);
      default:
        return this.int(2);
    }
  }

  value(depth: number): Json {
    const k = depth > 5 ? this.int(4) : this.int(7);
    switch (k) {
      case 0:
        return this.string();
      case 1:
        return this.number();
      case 2:
        return this.chance(0.5);
      case 3:
        return null;
      case 4:
        return this.object(depth + 1);
      case 5:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default:
        return this.string(4);
    }
  }

  object(depth: number, width = 4): { [k: string]: Json } {
    const o: { [k: string]: Json } = {};
    const n = this.int(width + 1);
    // Keys the receiver looks for, nested where they must be left alone.
    for (let i = 0; i < n; i++)
      o[
        this.chance(0.15)
          ? this.pick(['level', 'requestObject', 'stage', 'auditID', 'kind', 'metadata'])
          : this.string(6)
      ] = this.value(depth);
    return o;
  }

  managedObject(): { [k: string]: Json } {
    const metadata: { [k: string]: Json } = { name: this.string(8), namespace: 'default' };
    if (this.chance(0.5))
      metadata.managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: this.object(1) }];
    const o: { [k: string]: Json } = { kind: 'ConfigMap', apiVersion: 'v1', metadata, data: this.object(2, 6) };
    if (this.chance(0.2)) o.items = [{ metadata: { name: 'a', managedFields: [] } }];
    return o;
  }

  /** An audit event as the API server sends one, members in any order, sometimes inconsistent. */
  event(listVersion: string | null): { [k: string]: Json } {
    const level = this.pick(LEVELS);
    const stage = this.pick(STAGES);
    const rank = LEVELS.indexOf(level);
    const members: [string, Json][] = [
      ['level', level],
      ['auditID', this.chance(0.9) ? `${this.int(1e9).toString(16)}-${this.int(1e6)}` : this.string(8) || 'id'],
      ['stage', stage],
      ['requestURI', `/api/v1/namespaces/${this.string(6)}/pods?watch=${this.chance(0.5)}`],
      ['verb', this.pick(['get', 'list', 'create', 'patch', 'delete', 'watch'])],
      ['user', { username: this.string(10), groups: ['system:authenticated', this.string(5)] }],
      ['sourceIPs', ['172.18.0.1']],
      ['objectRef', { resource: 'pods', namespace: 'default', name: this.string(6), apiVersion: 'v1' }],
      ['requestReceivedTimestamp', '2026-11-29T10:00:00.000000Z'],
      ['stageTimestamp', '2026-11-29T10:00:00.002000Z'],
    ];
    if (stage !== 'RequestReceived') members.push(['responseStatus', { metadata: {}, code: 200 }]);
    if (rank >= 2 || this.chance(0.1))
      members.push(['requestObject', this.chance(0.8) ? this.managedObject() : this.value(0)]);
    if (rank >= 3 || this.chance(0.1))
      members.push(['responseObject', this.chance(0.8) ? this.managedObject() : this.value(0)]);
    if (this.chance(0.5))
      members.push(['annotations', { 'authorization.k8s.io/decision': 'allow', [this.string(5)]: this.string() }]);
    if (this.chance(0.3)) members.push([this.string(7), this.value(0)]);
    // v1beta1's deprecated members, and an item's own kind and version.
    if (this.chance(0.25)) members.push(['timestamp', '2026-11-29T10:00:00Z']);
    if (this.chance(0.25)) members.push(['metadata', { creationTimestamp: null }]);
    if (listVersion === null || this.chance(0.2)) members.push(['kind', 'Event']);
    if (listVersion === null || this.chance(0.2)) members.push(['apiVersion', listVersion ?? this.pick([V1, V1BETA1])]);
    return Object.fromEntries(this.shuffle(members));
  }
}

/**
 * JSON text, spelled as a sender other than JSON.stringify might: whitespace between tokens,
 * \u escapes and \/, other spellings of numbers, a member given twice (the last one wins).
 */
class Writer {
  constructor(
    readonly g: Gen,
    readonly odd: { ws: number; escape: number; numbers: number; repeat: number },
  ) {}
  ws(): string {
    return this.g.chance(this.odd.ws) ? this.g.pick([' ', '\n', '\t', '\r\n', '  ']) : '';
  }
  /** Keys are escaped rarely: an item with an escaped key is never used raw. */
  string(s: string, key = false): string {
    if (!this.g.chance(key ? this.odd.escape / 10 : this.odd.escape)) return JSON.stringify(s);
    let out = '"';
    for (const ch of JSON.stringify(s)
      .slice(1, -1)
      .match(/\\u[0-9a-f]{4}|\\.|[\s\S]/gu) ?? []) {
      if (ch.length === 1 && this.g.chance(0.3))
        out += ch === '/' ? '\\/' : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;
      else out += ch;
    }
    return `${out}"`;
  }
  number(n: number): string {
    if (!this.g.chance(this.odd.numbers) || !Number.isInteger(n) || Math.abs(n) > 1e15) return JSON.stringify(n);
    return this.g.pick([`${n}.0`, `${n}E0`, `${n}e+0`, `${n}.000`]);
  }
  value(v: Json): string {
    if (v === null || typeof v === 'boolean') return String(v);
    if (typeof v === 'number') return this.number(v);
    if (typeof v === 'string') return this.string(v);
    if (Array.isArray(v))
      return `[${this.ws()}${v.map((x) => this.value(x)).join(`${this.ws()},${this.ws()}`)}${this.ws()}]`;
    const members = Object.entries(v).map(
      ([k, x]) => `${this.string(k, true)}${this.ws()}:${this.ws()}${this.value(x)}`,
    );
    const plain = Object.keys(v).filter((k) => !['level', 'stage', 'auditID', 'kind', 'apiVersion'].includes(k));
    if (plain.length > 0 && this.g.chance(this.odd.repeat))
      members.unshift(`${this.string(this.g.pick(plain), true)}:${this.value(this.g.string(3))}`);
    return `{${this.ws()}${members.join(`${this.ws()},${this.ws()}`)}${this.ws()}}`;
  }
}

interface Case {
  body: Buffer;
  /** Written by JSON.stringify (whitespace aside): the lines must be the same bytes. */
  canonical: boolean;
}

function genBody(g: Gen): Case {
  const canonical = g.chance(0.5);
  const odd = canonical
    ? { ws: 0, escape: 0, numbers: 0, repeat: 0 }
    : { ws: g.pick([0, 0, 0, 0.3]), escape: 0.3, numbers: 0.3, repeat: 0.1 };
  const w = new Writer(g, odd);
  // Whitespace outside the items leaves the items compact: it is allowed on canonical bodies too.
  const outer = () => (g.chance(0.3) ? g.pick([' ', '\n', '\t ']) : '');
  const list = (): string => {
    const version = g.pick([V1, V1BETA1]);
    const items = g.chance(0.05)
      ? 'null'
      : `[${outer()}${Array.from({ length: g.int(10) }, () => w.value(g.event(version))).join(`${outer()},${outer()}`)}${outer()}]`;
    const members = g.shuffle([
      `"kind":"EventList"`,
      `"apiVersion":${JSON.stringify(version)}`,
      `"metadata":${g.pick(['{}', '{"resourceVersion":""}'])}`,
      `"items":${items}`,
    ]);
    return `${outer()}{${outer()}${members.join(`${outer()},${outer()}`)}${outer()}}${outer()}`;
  };
  const single = () => w.value(g.event(null));
  const shape = g.int(10);
  const text =
    shape < 7
      ? list()
      : shape < 9
        ? single()
        : `[${Array.from({ length: 1 + g.int(3) }, () => (g.chance(0.5) ? list() : single())).join(',')}]`;
  return { body: Buffer.from(text), canonical };
}

/** A body broken in one of the ways a sender (or the network) can break one. */
function breakBody(g: Gen, body: Buffer): Buffer {
  const text = body.toString('utf8');
  const at = g.int(text.length + 1);
  switch (g.int(11)) {
    case 0:
      return Buffer.from(text.slice(0, at));
    case 1:
      return Buffer.from(text.slice(0, at) + g.pick(['{', '}', ',', '"', 'x', '\u0000', ']', ':']) + text.slice(at));
    case 2:
      return Buffer.from(text.slice(0, at) + text.slice(at + 1));
    case 3:
      return Buffer.concat([body.subarray(0, at), Buffer.from([g.pick([0xff, 0xc3, 0x80])]), body.subarray(at)]);
    case 4:
      return Buffer.from(text.replace(/"stage":"[A-Za-z]+"/, g.pick(['"stage":"Nope"', '"stage":3', '"stage":""'])));
    case 5:
      return Buffer.from(
        text.replace(/"level":"[A-Za-z]+"/, g.pick(['"level":"All"', '"level":null', '"level":"none"'])),
      );
    case 6:
      return Buffer.from(text.replace(/"auditID":"[^"]*"/, g.pick(['"auditID":""', '"auditID":7', '"x":""'])));
    case 7:
      return Buffer.from(
        text
          .replace(/"kind":"Event"/, '"kind":"Pod"')
          .replace(
            /"apiVersion":"audit\.k8s\.io\/v1(beta1)?"/,
            g.pick(['"apiVersion":"audit.k8s.io/v2"', '"apiVersion":"v1"']),
          ),
      );
    case 8:
      return Buffer.from(text.replace(/"requestURI":/, `"deep":${'['.repeat(600)}${']'.repeat(600)},"requestURI":`));
    case 9:
      return Buffer.from(
        text.replace(
          /"verb":"[a-z]+"/,
          g.pick(['"verb":"get\\x"', '"verb":get', '"verb":"a\u0001"', '"verb":01', '"verb":1.', '"verb":tru']),
        ),
      );
    default: {
      // A trailing comma before some closing bracket, anywhere in the body.
      const closers = [...text.matchAll(/[}\]]/g)].map((m) => m.index);
      const c = closers.length > 0 ? g.pick(closers) : at;
      return Buffer.from(`${text.slice(0, c)},${text.slice(c)}`);
    }
  }
}

function outcome(body: Buffer, fast: boolean): { batch: DecodedBatch } | { refused: string } {
  try {
    return { batch: decodeBatch(body, { fast }) };
  } catch (err) {
    const e = err as { status?: number; message: string };
    return { refused: `${e.status} ${e.message}` };
  }
}

const text = (parts: Buffer[]) => Buffer.concat(parts).toString('utf8');
/** A line as a JSON value with its members' order: what a reader of the stream gets from it. */
const asJson = (line: string) =>
  line
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.stringify(JSON.parse(l)))
    .join('\n');

/** Every stream's content, as the receiver would append it: dynamic mode (as received), then each sink. */
function streams(b: DecodedBatch): string[] {
  const out = [b.heads.map((_, i) => text(b.line(i, null))).join('')];
  for (const sink of SINKS)
    out.push(b.heads.map((h, i) => (sink.stages.includes(h.stage) ? text(b.line(i, sink.level)) : '')).join(''));
  return out;
}

function compare(c: Case): 'same' | 'refused' {
  const fast = outcome(c.body, true);
  const plain = outcome(c.body, false);
  if ('refused' in plain) {
    expect(fast).toEqual(plain);
    return 'refused';
  }
  expect(fast).not.toHaveProperty('refused');
  const f = (fast as { batch: DecodedBatch }).batch;
  const p = plain.batch;
  expect(f.heads.length).toBe(p.heads.length);
  f.heads.forEach((h, i) => {
    const e = p.heads[i]!;
    expect([h.auditID, h.stage, h.level]).toEqual([e.auditID, e.stage, e.level]);
    for (const k of ['requestObject', 'responseObject', 'timestamp', 'metadata'] as const)
      expect(h[k] !== undefined).toBe(e[k] !== undefined);
    expect(f.event(i)).toEqual(p.event(i));
  });
  const fs = streams(f);
  const ps = streams(p);
  if (c.canonical) expect(fs).toEqual(ps);
  else expect(fs.map(asJson)).toEqual(ps.map(asJson));
  return 'same';
}

describe('the fast decode path gives what parsing and serializing gives', () => {
  it(`on ${BODIES} generated bodies and as many broken ones (seed ${SEED})`, () => {
    const g = new Gen(mulberry32(SEED));
    const seen = { same: 0, refused: 0, rawItems: 0, rawCanonical: 0 };
    for (let n = 0; n < BODIES; n++) {
      const c = genBody(g);
      const items = checkEventList(c.body)?.items ?? [];
      const raw = items.filter((it) => it.compact).length;
      seen.rawItems += raw;
      if (c.canonical) seen.rawCanonical += raw;
      seen[compare(c)]++;
      seen[compare({ body: breakBody(g, c.body), canonical: c.canonical })]++;
    }
    // The generator reaches both outcomes, and enough items take the raw path for the test to mean something.
    expect(seen.same).toBeGreaterThan(BODIES / 2);
    expect(seen.refused).toBeGreaterThan(BODIES / 4);
    expect(seen.rawCanonical).toBeGreaterThan(300);
    expect(seen.rawItems).toBeGreaterThan(seen.rawCanonical + 100);
  });
});
