/**
 * A lone UTF-16 surrogate escape in a JSON string (`\ud800` with no low surrogate after it, a
 * `\udc00` with no high one before it) names no character. Stored as sent, it made lines that
 * strict readers refuse (jq stops at such a line and reads nothing after it). The receiver stores
 * U+FFFD in its place, as it does for bytes that are not UTF-8, on the fast path and the plain one.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBatch } from '../../src/receiver/decode.js';
import type { RunningReceiver } from '../../src/receiver/start.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { streamFile } from '../../src/streams/names.js';
import { eventList, makeEvent, readEvents } from '../harness/events.js';
import { tempLab, type TempLab } from '../harness/lab.js';
import { clientTls, META_AND_FULL, post, startReceiver } from '../harness/receiver.js';

let t: TempLab | null = null;
let r: RunningReceiver | null = null;

afterEach(async () => {
  await r?.close();
  r = null;
  await t?.cleanup();
  t = null;
});

/** JSON text for a string whose escapes are written as given (`raw` is put between the quotes unchanged). */
const rawString = (raw: string) => `"${raw}"`;

/** An event's compact JSON with its userAgent and objectRef.name written as `rawAgent` and `rawName` (escapes as given). */
function eventText(rawAgent: string, rawName = 'cm-1'): { id: string; text: string } {
  const ev = makeEvent();
  const text = JSON.stringify(ev)
    .replace(JSON.stringify(ev.userAgent), rawString(rawAgent))
    .replace('"name":"cm-1"', `"name":${rawString(rawName)}`);
  return { id: ev.auditID, text };
}

const HIGH = '\\ud800';
const LOW = '\\udc00';
/** The cases a strict reader refuses, with the text each decodes to once U+FFFD stands in for the lone surrogates. */
const LONE: [string, string, string][] = [
  ['a lone high surrogate', `x${HIGH}y`, 'x\ufffdy'],
  ['a lone low surrogate', `x${LOW}y`, 'x\ufffdy'],
  ['a high surrogate before an escape that is no low one', `x${HIGH}\\u0041`, 'x\ufffdA'],
  ['a high surrogate at the end', `x${HIGH}`, 'x\ufffd'],
  ['a low surrogate before a high one', `${LOW}${HIGH}`, '\ufffd\ufffd'],
  ['upper-case hex, then a good pair', `\\uD800\\uD83D\\uDE00`, '\ufffd\u{1F600}'],
];

/**
 * Whether every \u escape of a surrogate in `line` is half of a pair (high, then low), as strict
 * readers require. A backslash escapes the next character, so `\\ud800` is text, not an escape.
 */
function surrogatesPaired(line: string): boolean {
  const escapes = /\\(?:u([0-9a-fA-F]{4})|.)/g;
  let pendingHigh = false;
  let lastEnd = -1;
  for (let m = escapes.exec(line); m !== null; m = escapes.exec(line)) {
    const unit = m[1] === undefined ? -1 : parseInt(m[1], 16);
    const adjacent = m.index === lastEnd;
    if (pendingHigh && !(adjacent && unit >= 0xdc00 && unit <= 0xdfff)) return false;
    if (pendingHigh) pendingHigh = false;
    else if (unit >= 0xd800 && unit <= 0xdbff) pendingHigh = true;
    else if (unit >= 0xdc00 && unit <= 0xdfff) return false;
    lastEnd = m.index + m[0].length;
  }
  return !pendingHigh;
}

/** jq's verdict on a file (it refuses lone high surrogates), or null when jq is not installed. */
function jqReads(path: string): { status: number | null; lines: number } | null {
  const out = spawnSync('jq', ['-c', '.', path], { encoding: 'utf8' });
  if (out.error) return null;
  return { status: out.status, lines: out.stdout.split('\n').filter((l) => l !== '').length };
}

describe('receiver: lone surrogates in JSON strings', () => {
  it('the checker of this test tells paired surrogate escapes from lone ones', () => {
    expect(surrogatesPaired('"\\ud83d\\ude00" "\\\\ud800" "\\u0041"')).toBe(true);
    for (const [, raw] of LONE) expect([raw, surrogatesPaired(rawString(raw))]).toEqual([raw, false]);
  });

  it('stores U+FFFD in their place over mutual TLS, as an EventList and as a single Event; a good pair is kept as sent', async () => {
    t = await tempLab(META_AND_FULL);
    r = await startReceiver(t.lab, []);
    const url = `${r.url}${STATIC_PATH}`;
    const want = new Map<string, { agent: string; name: string }>();
    // One batch per case, so each also tries the fast path alone.
    for (const [what, raw, decoded] of LONE) {
      const a = eventText(raw);
      const b = eventText('kubectl', raw);
      const res = await post(
        url,
        `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${a.text},${b.text}]}`,
        clientTls(t.lab),
      );
      expect([what, res.status]).toEqual([what, 200]);
      want.set(a.id, { agent: decoded, name: 'cm-1' });
      want.set(b.id, { agent: 'kubectl', name: decoded });
    }
    // A body that is one Event is parsed whole (the plain path).
    const single = eventText(`x${HIGH}y`);
    expect(
      (await post(url, single.text.replace('{', '{"kind":"Event","apiVersion":"audit.k8s.io/v1",'), clientTls(t.lab)))
        .status,
    ).toBe(200);
    want.set(single.id, { agent: 'x\ufffdy', name: 'cm-1' });
    // A good pair, and a backslash before text that looks like an escape, are not touched.
    const good = eventText('\\ud83d\\ude00', '\\\\ud800');
    expect((await post(url, eventList([]).replace('[]', `[${good.text}]`), clientTls(t.lab))).status).toBe(200);
    want.set(good.id, { agent: '\u{1F600}', name: '\\ud800' });

    for (const sink of ['meta', 'full']) {
      const path = streamFile(t.lab.paths.streamsDir, sink);
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      expect(lines).toHaveLength(want.size);
      expect(lines.filter((l) => !surrogatesPaired(l))).toEqual([]);
      const got = new Map(
        (await readEvents(path)).map((e) => [
          e.auditID as string,
          { agent: e.userAgent, name: (e.objectRef as { name: string }).name },
        ]),
      );
      expect(got).toEqual(want);
      // The good pair is stored byte for byte as the API server sent it.
      expect(lines.find((l) => l.includes(good.id))).toContain('"userAgent":"\\ud83d\\ude00"');
      const jq = jqReads(path);
      if (jq) expect(jq).toEqual({ status: 0, lines: want.size });
    }
  });

  it('the fast path and the plain one make the same well-formed lines', () => {
    for (const [what, raw] of LONE) {
      const body = Buffer.from(
        `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${eventText(raw, raw).text}]}`,
      );
      const lines = [decodeBatch(body), decodeBatch(body, { fast: false })].map((b) =>
        Buffer.concat(b.line(0, null)).toString('utf8'),
      );
      expect([what, lines[0]]).toEqual([what, lines[1]]);
      expect([what, surrogatesPaired(lines[0]!)]).toEqual([what, true]);
    }
  });
});
