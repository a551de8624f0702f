/**
 * A stand-in for the server of `audit-lab ui` while the page is built apart from it: dist/web/public and the JSON API
 * exactly as the contract gives it, from events held in memory as their JSON text (so a 10,000-deep event is never
 * walked here). Loopback only, with the contract's headers (the CSP the page must live under).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PUBLIC = fileURLToPath(new URL('../../dist/web/public/', import.meta.url));
const TYPES: Record<string, string> = {
  '/': 'text/html; charset=utf-8',
  '/app.js': 'text/javascript; charset=utf-8',
  '/app.css': 'text/css; charset=utf-8',
};

/** What the fake filters and groups on; the event itself is `raw`, its JSON text as stored. */
export interface FakeEvent {
  id: string;
  sink: string;
  auditID: string;
  verb: string;
  user: string;
  namespace: string;
  resource: string;
  code: number;
  stage: string;
  time: string;
  level: string;
  raw: string;
}

export interface EventFields {
  auditID: string;
  verb: string;
  user: string;
  namespace?: string;
  resource?: string;
  name?: string;
  code?: number;
  stage?: string;
  time: string;
  level?: string;
  requestURI?: string;
}

/** An event as the receiver stores it; `objectJson`, when given, is put in as requestObject's JSON text. */
export function fakeEvent(sink: string, n: number, f: EventFields, objectJson?: string): FakeEvent {
  const level = f.level ?? 'Metadata';
  const stage = f.stage ?? 'ResponseComplete';
  const e = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level,
    auditID: f.auditID,
    stage,
    requestURI: f.requestURI ?? `/api/v1/namespaces/${f.namespace ?? 'default'}/${f.resource ?? 'pods'}`,
    verb: f.verb,
    user: { username: f.user, groups: ['system:authenticated'] },
    sourceIPs: ['172.18.0.1'],
    userAgent: 'kubectl/v1.31.0',
    objectRef: { resource: f.resource ?? 'pods', namespace: f.namespace ?? 'default', name: f.name ?? 'web-1' },
    responseStatus: { metadata: {}, code: f.code ?? 200 },
    requestReceivedTimestamp: f.time,
    stageTimestamp: f.time,
  };
  let raw = JSON.stringify(e);
  if (objectJson !== undefined) raw = `${raw.slice(0, -1)},"requestObject":${objectJson}}`;
  return {
    id: `${sink}:file:${n}`,
    sink,
    auditID: f.auditID,
    verb: f.verb,
    user: f.user,
    namespace: f.namespace ?? 'default',
    resource: f.resource ?? 'pods',
    code: f.code ?? 200,
    stage,
    time: f.time,
    level,
    raw,
  };
}

function matches(e: FakeEvent, q: URLSearchParams): boolean {
  const any = (key: string, value: string, eq = (a: string, b: string) => a === b) => {
    const want = q.getAll(key);
    return want.length === 0 || want.some((w) => eq(w, value));
  };
  const since = q.get('since');
  return (
    any('verb', e.verb) &&
    any('user', e.user) &&
    any('namespace', e.namespace) &&
    any('resource', e.resource) &&
    any('code', String(e.code), (w, v) => (w.endsWith('xx') ? v[0] === w[0] : w === v)) &&
    any('stage', e.stage, (w, v) => w.toLowerCase() === v.toLowerCase()) &&
    any('sink', e.sink) &&
    (since === null || Date.parse(e.time) >= Date.parse(since))
  );
}

function item(e: FakeEvent): string {
  return `{"id":${JSON.stringify(e.id)},"sink":${JSON.stringify(e.sink)},"event":${e.raw}}`;
}

export interface FakeApi {
  url: string;
  /** Every /api request's path and query, in order. */
  asked: string[];
  /** Stores an event as the receiver would: a following page gets it. */
  push(e: FakeEvent): void;
  close(): Promise<void>;
}

export interface FakeOptions {
  sinks?: { name: string; level: string; stages: string[] }[];
  presets?: string[];
}

type Handler = (q: URLSearchParams, res: ServerResponse, path: string) => void;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

function json(res: ServerResponse, body: string): void {
  send(res, 200, 'application/json; charset=utf-8', body);
}

function apiHandlers(events: FakeEvent[], o: FakeOptions, followers: Set<ServerResponse>): Record<string, Handler> {
  /** Newest first: the store is oldest first, so a cursor is an index into it counting down. */
  const page = (q: URLSearchParams) => {
    const limit = Number(q.get('limit') ?? '500');
    const before = q.has('before') ? Number(q.get('before')) : events.length;
    const matching: number[] = [];
    let total = 0;
    for (let i = events.length - 1; i >= 0; i--) {
      if (!matches(events[i]!, q)) continue;
      total++;
      if (i < before && matching.length < limit) matching.push(i);
    }
    const last = matching.at(-1);
    const more = last !== undefined && events.slice(0, last).some((e) => matches(e, q));
    return { matching, total, next: more ? String(last) : null };
  };
  return {
    '/api/meta': (_q, res) =>
      json(
        res,
        JSON.stringify({
          lab: 'lab-1',
          source: 'lab',
          files: [],
          mode: 'static',
          sinks: o.sinks ?? [{ name: 'default', level: 'Metadata', stages: ['ResponseComplete'] }],
          presets: o.presets ?? ['minimal', 'cis'],
        }),
      ),
    '/api/events': (q, res) => {
      const p = page(q);
      json(
        res,
        `{"items":[${p.matching.map((i) => item(events[i]!)).join(',')}],"next":${JSON.stringify(p.next)},"total":${p.total},"refused":0}`,
      );
    },
    '/api/policy': (q, res) => {
      const p = page(q);
      const levels = ['None', 'Metadata', 'Request', 'RequestResponse'];
      const items = p.matching.map((i) => ({
        id: events[i]!.id,
        rule: i % 4 === 3 ? null : i % 4,
        level: levels[i % 4],
        description: i % 4 === 3 ? '(no rule matched)' : `rule ${i % 4}: ${events[i]!.verb} ${events[i]!.resource}`,
      }));
      const totals = {
        captured: { events: p.total, bytes: p.total * 1000, byLevel: {} },
        policy: { events: Math.floor(p.total / 2), bytes: p.total * 400, byLevel: {}, droppedNone: 0, droppedStage: 0 },
        underCaptured: 0,
      };
      json(res, JSON.stringify({ items, totals }));
    },
    '/api/follow': (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': following\n\n');
      followers.add(res);
      res.on('close', () => followers.delete(res));
    },
    '/api/top': (q, res) =>
      json(
        res,
        JSON.stringify(
          top(
            events.filter((e) => matches(e, q)),
            q,
          ),
        ),
      ),
  };
}

function top(events: FakeEvent[], q: URLSearchParams) {
  const by = (q.get('by') ?? 'user,verb,resource').split(',');
  const groups = new Map<string, { key: Record<string, string>; events: number; bytes: number; times: number[] }>();
  for (const e of events) {
    const key: Record<string, string> = {};
    for (const b of by) key[b] = String((e as unknown as Record<string, unknown>)[b] ?? '');
    const k = JSON.stringify(key);
    const g = groups.get(k) ?? { key, events: 0, bytes: 0, times: [] };
    g.events++;
    g.bytes += e.raw.length;
    g.times.push(Math.floor(Date.parse(e.time) / 10_000) * 10);
    groups.set(k, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.events - a.events);
  const ts = [...new Set(rows.flatMap((r) => r.times))].sort((a, b) => a - b);
  return {
    by,
    rows: rows.map((r) => ({ key: r.key, events: r.events, bytes: r.bytes, share: r.events / events.length })),
    series: {
      t: ts,
      groups: rows.map((r) => ({ key: r.key, events: ts.map((t) => r.times.filter((x) => x === t).length) })),
    },
  };
}

function request(events: FakeEvent[], o: FakeOptions, id: string): string {
  const mine = events.filter((e) => e.auditID === id);
  const sinks = (o.sinks ?? [{ name: 'default', level: 'Metadata', stages: ['ResponseComplete'] }]).map(
    (s) =>
      `{"name":${JSON.stringify(s.name)},"level":${JSON.stringify(s.level)},"stages":${JSON.stringify(s.stages)},"events":[${mine
        .filter((e) => e.sink === s.name)
        .map((e) => e.raw)
        .join(',')}]}`,
  );
  const stages = mine.map((e) => ({ stage: e.stage, time: e.time, sink: e.sink }));
  return `{"auditID":${JSON.stringify(id)},"stages":${JSON.stringify(stages)},"sinks":[${sinks.join(',')}]}`;
}

export async function startFakeApi(initial: FakeEvent[], o: FakeOptions = {}): Promise<FakeApi> {
  const events = [...initial];
  const followers = new Set<ServerResponse>();
  const handlers = apiHandlers(events, o, followers);
  const asked: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cache-control', 'no-store');
    if (u.pathname.startsWith('/api/')) asked.push(`${u.pathname}${u.search}`);
    const h = handlers[u.pathname];
    if (h) return h(u.searchParams, res, u.pathname);
    if (u.pathname.startsWith('/api/request/')) {
      return json(res, request(events, o, decodeURIComponent(u.pathname.slice('/api/request/'.length))));
    }
    const type = TYPES[u.pathname];
    if (!type) return send(res, 404, 'text/plain', 'not found');
    readFile(`${PUBLIC}${u.pathname === '/' ? 'index.html' : u.pathname.slice(1)}`).then(
      (body) => send(res, 200, type, body),
      () => send(res, 500, 'text/plain', 'dist/web/public is not built: npm run build'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    asked,
    push(e) {
      events.push(e);
      for (const f of followers) f.write(`data: ${item(e)}\n\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const f of followers) f.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
