/**
 * `audit-lab ui`'s JSON API against the commands it stands for: /api/events with each filter is
 * `tail --no-follow -o json` with the same flag, newest first; pages given by `before` hold each
 * event once; /api/follow delivers what is appended to a stream; /api/request groups a request's
 * stages across sinks; /api/top's rows are `top --no-follow -o json`'s groups; /api/policy's levels
 * are `policy test -o json`'s. Over real sockets, on stream files a test writes.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LabPaths } from '../../src/lab/paths.js';
import { fileText, generate } from '../harness/events.js';
import { makeLab, putFixture, runInHome, testDir } from '../harness/lab.js';
import { GUARD_MS } from '../harness/wait.js';
import { type Running, startUi } from './client.js';

type Item = { id: string; sink: string | null; event: Record<string, unknown> };
type Page = { items: Item[]; next: string | null; total: number; refused: number };

async function fixtureLab(): Promise<{ home: string; paths: LabPaths; u: Running }> {
  const home = await testDir();
  const paths = await makeLab(home);
  await putFixture(paths, 'default.log');
  await putFixture(paths, 'secrets.log');
  return { home, paths, u: await startUi(paths) };
}

async function tailJson(home: string, flags: string[]): Promise<Record<string, unknown>[]> {
  const r = await runInHome(home, ['tail', '--no-follow', '-o', 'json', ...flags]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { items: Record<string, unknown>[] }).items;
}

describe('/api/events', () => {
  it('with each filter, lists what tail --no-follow -o json lists with the same flag, newest first', async () => {
    const { home, u } = await fixtureLab();
    const cases: [string, string][] = [
      ['verb', 'get'],
      ['verb', 'LIST'],
      ['user', 'kubernetes-admin'],
      ['namespace', 'kube-system'],
      ['namespace', ''],
      ['resource', 'po'],
      ['resource', 'apps/deployments/scale'],
      ['code', '4xx'],
      ['code', '201'],
      ['stage', 'requestreceived'],
      ['sink', 'secrets'],
      ['sink', 'default'],
      ['since', '2024-05-01T10:00:04Z'],
    ];
    for (const [name, value] of cases) {
      const expected = await tailJson(home, [`--${name}`, value]);
      const page = await u.json<Page>(`/api/events?${new URLSearchParams({ [name]: value })}`);
      expect(
        page.items.map((i) => i.event),
        `${name}=${value}`,
      ).toEqual(expected.reverse());
      expect(page.total, `${name}=${value}`).toBe(expected.length);
    }
    // Repeated and combined, as the flags repeat and combine.
    const both = await tailJson(home, ['--verb', 'get', '--verb', 'delete', '--user', 'kubernetes-admin']);
    const page = await u.json<Page>('/api/events?verb=get&verb=delete&user=kubernetes-admin');
    expect(page.items.map((i) => i.event)).toEqual(both.reverse());
    expect(both.length).toBeGreaterThan(1);
    // Unfiltered: every sink merged, a request several sinks hold once, as tail shows them.
    const all = await u.json<Page>('/api/events');
    expect(all.items.map((i) => i.event)).toEqual((await tailJson(home, [])).reverse());
    expect(new Set(all.items.map((i) => i.id)).size).toBe(all.items.length);
    expect(all.items.every((i) => i.sink === 'default' || i.sink === 'secrets')).toBe(true);
  });

  it('pages with before: every matching event exactly once, newest first, and total counts them all', async () => {
    const home = await testDir();
    const paths = await makeLab(home, ['bulk', 'other']);
    const start = Date.parse('2024-05-01T10:00:00Z') * 1000;
    await writeFile(
      join(paths.streamsDir, 'bulk.log'),
      fileText(generate({ count: 900, seed: 1, startMicros: start, perSecond: 50 })),
    );
    await writeFile(
      join(paths.streamsDir, 'other.log'),
      fileText(generate({ count: 300, seed: 2, startMicros: start, perSecond: 17 })),
    );
    const u = await startUi(paths);
    for (const filter of ['', 'verb=get']) {
      const expected = (await tailJson(home, filter === '' ? [] : ['--verb', 'get'])).reverse();
      const seen: Item[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/api/events?limit=97${filter ? `&${filter}` : ''}${cursor !== null ? `&before=${cursor}` : ''}`;
        const page: Page = await u.json<Page>(q);
        expect(page.total).toBe(expected.length);
        expect(page.items.length).toBeLessThanOrEqual(97);
        seen.push(...page.items);
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 100);
      expect(seen.map((i) => i.event)).toEqual(expected);
      expect(new Set(seen.map((i) => i.id)).size).toBe(expected.length);
      expect(pages).toBe(Math.ceil(expected.length / 97));
    }
    // Events appended after the first page leave the next pages as they were.
    const first = await u.json<Page>('/api/events?limit=100');
    await appendFile(
      join(paths.streamsDir, 'bulk.log'),
      fileText(generate({ count: 5, seed: 3, startMicros: start + 3600e6, perSecond: 1 })),
    );
    const second = await u.json<Page>(`/api/events?limit=100&before=${first.next}`);
    const again = await u.json<Page>(`/api/events?limit=300`);
    expect(again.total).toBe(first.total + 5);
    expect(second.items.map((i) => i.id)).toEqual(again.items.slice(105, 205).map((i) => i.id));
  });
});

/** The `data:` events of an open /api/follow, and a wait for the server to say it follows. */
function follow(u: Running, query = '') {
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const req = request({
    host: '127.0.0.1',
    port: u.server.port,
    path: `/api/follow${query}`,
    headers: { Host: u.host, Cookie: `audit_lab_ui=${u.token}` },
  });
  let status = 0;
  req.on('response', (res) => {
    status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    let buffered = '';
    res.on('data', (c: string) => {
      buffered += c;
      const parts = buffered.split('\n\n');
      buffered = parts.pop()!;
      lines.push(...parts);
      wake();
    });
  });
  req.on('error', () => {});
  req.end();
  const until = async (check: () => boolean, what: string) => {
    const guard = Date.now() + GUARD_MS;
    while (!check()) {
      if (Date.now() > guard) throw new Error(`no ${what} from /api/follow: ${lines.join(' | ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 1000).unref();
      });
    }
  };
  return {
    status: () => status,
    data: () => lines.filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as Item),
    following: () => until(() => lines.includes(': following'), 'following'),
    until,
    close: () => req.destroy(),
  };
}

describe('/api/follow', () => {
  it('sends an event appended to a sink stream, as the receiver writes it, and only those that match', async () => {
    const { paths, u } = await fixtureLab();
    const f = follow(u, '?verb=delete');
    await f.following();
    expect(f.status()).toBe(200);
    const specs = generate({
      count: 40,
      seed: 7,
      startMicros: Date.parse('2024-05-01T11:00:00Z') * 1000,
      perSecond: 10,
    });
    await appendFile(join(paths.streamsDir, 'default.log'), fileText(specs));
    const deletes = specs.filter((s) => s.verb === 'delete');
    expect(deletes.length).toBeGreaterThan(0);
    await f.until(() => f.data().length >= deletes.length, 'events');
    expect(f.data().map((i) => i.event)).toEqual(deletes.map((s) => JSON.parse(s.line)));
    expect(f.data().every((i) => i.sink === 'default' && i.id.startsWith('default:default.log:'))).toBe(true);
    f.close();
  });
});

describe('/api/request/:auditID', () => {
  it("groups a request's stages across the sinks that recorded it, each sink's copies with its level", async () => {
    const { u } = await fixtureLab();
    const r = await u.json<{
      auditID: string;
      stages: { stage: string; time: string; sink: string }[];
      sinks: { name: string; level: string; stages: string[]; events: Record<string, unknown>[] }[];
    }>('/api/request/4b7e2c95-8d1a-4f3e-9b6c-2a5d8f1e4c70');
    expect(r.auditID).toBe('4b7e2c95-8d1a-4f3e-9b6c-2a5d8f1e4c70');
    expect(r.stages.map((s) => s.stage)).toEqual(['RequestReceived', 'ResponseComplete']);
    const bySink = Object.fromEntries(r.sinks.map((s) => [s.name, s]));
    expect(Object.keys(bySink).sort()).toEqual(['default', 'secrets']);
    expect(bySink.default!.level).toBe('Metadata');
    expect(bySink.default!.events.map((e) => e.stage)).toEqual(['ResponseComplete']);
    expect(bySink.secrets!.level).toBe('RequestResponse');
    expect(bySink.secrets!.events.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete']);
    expect(bySink.secrets!.events[1]!.responseObject).toBeDefined();
    expect(bySink.default!.events[0]!.responseObject).toBeUndefined();
    const missing = await u.get('/api/request/nope', { Cookie: `audit_lab_ui=${u.token}` });
    expect(missing.status).toBe(404);
  });
});

describe('/api/top and /api/policy', () => {
  it("top's rows are top --no-follow -o json's groups, with the busiest groups' events over time", async () => {
    const home = await testDir();
    const paths = await makeLab(home, ['bulk']);
    const start = Date.parse('2024-05-01T10:00:00Z') * 1000;
    const specs = generate({ count: 600, seed: 4, startMicros: start, perSecond: 5 });
    await writeFile(join(paths.streamsDir, 'bulk.log'), fileText(specs));
    const u = await startUi(paths);
    for (const [by, flags] of [
      ['user,verb,resource', []],
      ['code', ['--verb', 'get']],
      ['namespace,useragent', []],
    ] as [string, string[]][]) {
      const r = await runInHome(home, ['top', '--no-follow', '-o', 'json', '--by', by, ...flags]);
      expect(r.code, r.stderr).toBe(0);
      const query = new URLSearchParams({ by, bucket: '30s' });
      for (let i = 0; i < flags.length; i += 2) query.append(flags[i]!.slice(2), flags[i + 1]!);
      const got = await u.json<{ rows: unknown[]; series: { t: number[]; groups: { events: number[] }[] } }>(
        `/api/top?${query}`,
      );
      expect(got.rows).toEqual((JSON.parse(r.stdout) as { groups: unknown[] }).groups);
      expect(got.series.t.length).toBe(Math.floor((start + 120e6 + 1500) / 30e6) - Math.floor((start + 1500) / 30e6));
      const counted = got.series.groups.reduce((n, g) => n + g.events.reduce((a, b) => a + b, 0), 0);
      const busiest = (got.rows as { events: number }[])
        .slice()
        .sort((a, b) => b.events - a.events)
        .slice(0, 10);
      expect(counted).toBe(busiest.reduce((n, g) => n + g.events, 0));
    }
  });

  it("policy's levels and totals are policy test -o json's on the same events", async () => {
    const { home, u } = await fixtureLab();
    for (const sink of ['default', 'secrets']) {
      for (const preset of ['preset:recommended', 'preset:metadata']) {
        const r = await runInHome(home, ['policy', 'test', preset, '--sink', sink, '-o', 'json']);
        expect(r.code, r.stderr).toBe(0);
        const doc = JSON.parse(r.stdout) as { results: { rule: number | null; level: string }[]; summary: unknown };
        const got = await u.json<{ items: { rule: number | null; level: string }[]; totals: unknown }>(
          `/api/policy?policy=${preset}&sink=${sink}&limit=1000`,
        );
        expect(got.items.map((i) => [i.rule, i.level]).reverse(), `${preset} ${sink}`).toEqual(
          doc.results.map((v) => [v.rule, v.level]),
        );
        expect(got.totals).toEqual(doc.summary);
      }
    }
  });
});
