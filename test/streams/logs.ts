/** Audit events and log files for the --file tests, with what they should read as worked out here, not by the reader. */
import { open, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { auditEvent } from '../harness/events.js';

const BASE_MS = Date.UTC(2026, 10, 29, 9, 0, 0);

/** The API server's time form (6 fraction digits, Z) of BASE + `ms` milliseconds. */
export function at(ms: number): string {
  return new Date(BASE_MS + ms).toISOString().replace('Z', '000Z');
}

/** A Metadata event as the API server logs it: received at `receivedMs`, completed `tookMs` later. */
export function event(
  auditID: string,
  receivedMs: number,
  o: { tookMs?: number; version?: 'v1' | 'v1beta1'; user?: string; verb?: string } = {},
): Record<string, unknown> {
  return auditEvent({
    kind: 'Event',
    apiVersion: `audit.k8s.io/${o.version ?? 'v1'}`,
    level: 'Metadata',
    auditID,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/pods',
    verb: o.verb ?? 'list',
    user: { username: o.user ?? 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['172.18.0.1'],
    userAgent: 'kubectl/v1.37.2 (linux/amd64)',
    objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: at(receivedMs),
    stageTimestamp: at(receivedMs + (o.tookMs ?? 3)),
    ...(o.version === 'v1beta1' ? { timestamp: at(receivedMs), metadata: { creationTimestamp: null } } : {}),
  });
}

/** Lines of a log (one event each, newline-ended). */
export const logText = (events: readonly Record<string, unknown>[]) =>
  events.map((e) => `${JSON.stringify(e)}\n`).join('');

export async function writeLog(
  path: string,
  events: readonly Record<string, unknown>[],
  o: { gzip?: boolean } = {},
): Promise<void> {
  const text = logText(events);
  await writeFile(path, o.gzip === true ? gzipSync(text) : text);
}

/** The order a time merge must give: by received time, then stage time; ties keep the order given. */
export function byTime<T extends Record<string, unknown>>(events: readonly T[]): T[] {
  const key = (e: T) => `${String(e.requestReceivedTimestamp)} ${String(e.stageTimestamp)}`;
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (key(a.e) < key(b.e) ? -1 : key(a.e) > key(b.e) ? 1 : a.i - b.i))
    .map((x) => x.e);
}

export const ids = (events: readonly Record<string, unknown>[]) => events.map((e) => e.auditID as string);

/** An EventList as `jq .` writes it: pretty, two-space indent; items without kind and apiVersion. */
export function eventList(events: readonly Record<string, unknown>[], version = 'v1'): string {
  const items = events.map(({ kind: _k, apiVersion: _v, ...rest }) => rest);
  return `${JSON.stringify({ kind: 'EventList', apiVersion: `audit.k8s.io/${version}`, metadata: {}, items }, null, 2)}\n`;
}

/** The 1-based line where the pretty-printed object holding `"auditID": "<id>"` opens, found by search. */
export function linesOf(text: string, auditIDs: readonly string[]): number[] {
  const lines = text.split('\n');
  return auditIDs.map((id) => {
    let i = lines.findIndex((l) => l.includes(`"auditID": "${id}"`));
    while (i >= 0 && lines[i]!.trim() !== '{') i--;
    return i + 1;
  });
}

/** How a large document is laid out: as `jq -S` writes an EventList, a JSON array of Events, or an EventList whose items come before its apiVersion. */
export type BigShape = 'sorted' | 'array' | 'itemsFirst';

/**
 * Writes one pretty-printed document of about `mib` MiB in pieces (never the whole text in memory):
 * events `${prefix}0`, `${prefix}1`, ... received every `stepMs` from `startMs`. Returns how many.
 */
export async function writeBigDocument(
  path: string,
  shape: BigShape,
  mib: number,
  o: { prefix: string; startMs: number; stepMs: number },
): Promise<number> {
  const fh = await open(path, 'w');
  const indent = shape === 'array' ? '  ' : '    ';
  const item = (i: number) => {
    const e = event(`${o.prefix}${i}`, o.startMs + i * o.stepMs);
    const shown = shape === 'array' ? e : (({ kind: _k, apiVersion: _v, ...rest }) => rest)(e);
    return JSON.stringify(shown, null, 2).replace(/^/gm, indent);
  };
  const head = {
    sorted: '{\n  "apiVersion": "audit.k8s.io/v1",\n  "items": [\n',
    array: '[\n',
    itemsFirst: '{\n  "items": [\n',
  }[shape];
  const foot = {
    sorted: '\n  ],\n  "kind": "EventList",\n  "metadata": {}\n}\n',
    array: '\n]\n',
    itemsFirst: '\n  ],\n  "kind": "EventList",\n  "apiVersion": "audit.k8s.io/v1"\n}\n',
  }[shape];
  try {
    await fh.write(head);
    let written = 0;
    let n = 0;
    while (written < mib * 1024 * 1024) {
      const piece: string[] = [];
      for (let k = 0; k < 1000; k++, n++) piece.push(item(n));
      const text = `${written === 0 ? '' : ',\n'}${piece.join(',\n')}`;
      await fh.write(text);
      written += text.length;
    }
    await fh.write(foot);
    return n;
  } finally {
    await fh.close();
  }
}
