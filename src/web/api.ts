/**
 * The JSON endpoints of `audit-lab ui`, read the one way `tail` reads (streams/source.ts): a lab's
 * streams or the files given, filtered by audit/filter.ts with `tail`'s flags as query parameters.
 * Nothing is kept between requests: each page is one pass over what is stored, holding one page
 * of events, so a lab of any size is served in bounded memory (npm run bench:ui measures it).
 * Pages are newest first; a cursor is the position, among the matching events in time order, of
 * the oldest event of the page before, which new events (appended after it) leave in place.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StoredEvent } from '../audit/filter.js';
import { listPresets } from '../audit/presets.js';
import { readState } from '../lab/state.js';
import { readSource } from '../streams/source.js';
import { policyPage, topView } from './apiViews.js';
import { type ApiSource, itemOf, pageParams, readPage, scanFor } from './scan.js';

export type { ApiSource };

function sendJson(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function events(s: ApiSource, params: URLSearchParams): Promise<unknown> {
  const scan = await scanFor(s, params);
  const files = scan.source.kind === 'files';
  return readPage(scan, pageParams(params), (r) => itemOf(r, files));
}

/**
 * New events as they are stored, as server-sent events: a comment once following begins (what is
 * stored now is read past first), then one `data:` line per event, until the asker goes away.
 */
async function follow(s: ApiSource, params: URLSearchParams, req: IncomingMessage, res: ServerResponse) {
  const stop = new AbortController();
  const abort = () => stop.abort();
  s.signal?.addEventListener('abort', abort, { once: true });
  res.on('close', abort);
  const scan = await scanFor(s, params, { follow: true, signal: stop.signal });
  const files = scan.source.kind === 'files';
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
  res.write(': connected\n\n');
  const beat = setInterval(() => res.write(': alive\n\n'), 15_000);
  beat.unref();
  req.socket.setTimeout(0);
  try {
    await readSource(scan.source, scan.query, (batch, storedDone) => {
      if (storedDone) res.write(': following\n\n');
      if (batch.length === 0) return;
      res.write(batch.map((r) => `data: ${JSON.stringify(itemOf(r, files))}\n\n`).join(''));
    });
  } finally {
    clearInterval(beat);
    s.signal?.removeEventListener('abort', abort);
    res.end();
  }
}

/** What the page shows before anything else: the lab or the files, the lab's mode and sinks, the presets. */
async function meta(s: ApiSource): Promise<unknown> {
  const presets = await listPresets();
  if (s.files.length > 0) {
    return { lab: null, source: 'files', files: [...s.files], mode: null, sinks: [], presets };
  }
  const state = await readState(s.paths);
  const sinks = (state?.sinks ?? []).map((k) => ({ name: k.name, level: k.level, stages: [...k.stages] }));
  return { lab: s.paths.name, source: 'lab', files: [], mode: state?.mode ?? null, sinks, presets };
}

/** One request by auditID: every stage each sink recorded, and each sink's copies, in time order. */
async function request(s: ApiSource, auditID: string): Promise<unknown> {
  const scan = await scanFor(s, new URLSearchParams(), {
    eachSinkCopy: true,
    extra: (e) => e.auditID === auditID,
  });
  const files = scan.source.kind === 'files';
  const bySink = new Map<string, StoredEvent[]>();
  const stages: { stage: string | null; time: string | null; sink: string | null }[] = [];
  await readSource(scan.source, scan.query, (batch) => {
    for (const r of batch) {
      const sink = files ? r.file : r.sink;
      const list = bySink.get(sink) ?? [];
      bySink.set(sink, list);
      list.push(r.event);
      const stage = typeof r.event.stage === 'string' ? r.event.stage : null;
      const time = typeof r.event.stageTimestamp === 'string' ? r.event.stageTimestamp : null;
      if (!stages.some((x) => x.stage === stage && x.time === time))
        stages.push({ stage, time, sink: itemOf(r, files).sink });
    }
  });
  if (bySink.size === 0) throw new NotFound(`no event has auditID ${JSON.stringify(auditID)}`);
  const state = files ? null : await readState(s.paths);
  const sinks = [...bySink].map(([name, list]) => {
    const known = state?.sinks.find((k) => k.name === name);
    return { name, level: known?.level ?? null, stages: known ? [...known.stages] : null, events: list };
  });
  return { auditID, stages, sinks };
}

/** An asked-for thing that is not there: 404. */
export class NotFound extends Error {
  override name = 'NotFound';
}

/** The API's endpoints over `s`, as server.ts calls them: false for a path that is none of them. */
export function apiHandler(s: ApiSource) {
  return async (url: URL, req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const p = url.searchParams;
    const path = url.pathname;
    try {
      if (path === '/api/meta') sendJson(res, await meta(s));
      else if (path === '/api/events') sendJson(res, await events(s, p));
      else if (path === '/api/follow') await follow(s, p, req, res);
      else if (path === '/api/top') sendJson(res, await topView(s, p));
      else if (path === '/api/policy') sendJson(res, await policyPage(s, p));
      else if (path.startsWith('/api/request/')) sendJson(res, await request(s, decodeURIComponent(path.slice(13))));
      else return false;
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: err.message }));
    }
    return true;
  };
}
