import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, waitForTotal, watchedPage } from './browser.js';
import { type FakeApi, fakeEvent, startFakeApi } from './fakeApi.js';
import { iso, mixed } from './fixtures.js';

const SINKS = [
  { name: 'default', level: 'Metadata', stages: ['ResponseComplete'] },
  { name: 'full', level: 'RequestResponse', stages: ['RequestReceived', 'ResponseComplete'] },
];
const T = Date.parse('2024-05-01T11:00:00Z');

/** One request as two sinks hold it: `full` both stages with its objects, `default` the last stage at Metadata. */
function oneRequest() {
  const f = { auditID: 'req-1', verb: 'create', user: 'alice', resource: 'configmaps', name: 'cm-1' };
  const objects = '{"kind":"ConfigMap","data":{"k":"v"}}';
  return [
    fakeEvent('full', 1, { ...f, stage: 'RequestReceived', level: 'RequestResponse', time: iso(T) }, objects),
    fakeEvent('full', 2, { ...f, stage: 'ResponseComplete', level: 'RequestResponse', time: iso(T + 42) }, objects),
    fakeEvent('default', 3, { ...f, stage: 'ResponseComplete', level: 'Metadata', time: iso(T + 42) }),
  ];
}

let browser: Browser;
let api: FakeApi;
beforeAll(async () => {
  browser = await launch();
  api = await startFakeApi([...mixed(), ...oneRequest()], { sinks: SINKS, presets: ['minimal', 'cis'] });
});
afterAll(async () => {
  await api?.close();
  await browser?.close();
});

describe('the request view', () => {
  it('shows the stages on a timeline and each sink side by side, with what each left out marked', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/?view=request&id=req-1`);
    const view = w.page.locator('.view.request');
    await view.locator('.timeline .stage').first().waitFor();
    const stages = await view.locator('.timeline .stage-name').allTextContents();
    expect(stages).toEqual(['RequestReceived', 'ResponseComplete', 'ResponseComplete']);
    expect(await view.locator('.timeline .stage-delta').allTextContents()).toEqual(['+0 ms', '+42 ms', '+42 ms']);

    const metadata = view.locator('.sink-col[data-sink="default"]');
    const full = view.locator('.sink-col[data-sink="full"]');
    expect(await metadata.locator('h3').textContent()).toBe('default Metadata');
    const marks = await metadata.locator('.omitted').allTextContents();
    expect(marks).toContain('stage RequestReceived not recorded by this sink');
    expect(marks).toContain('absent: left out at level Metadata');
    expect(await metadata.locator('.node.absent .key').allTextContents()).toEqual(['requestObject', 'responseObject']);
    // The RequestResponse sink holds both stages and the request's object: nothing marked.
    expect(await full.locator('.sink-event').count()).toBe(2);
    expect(await full.locator('.omitted').count()).toBe(0);
    await full.locator('.sink-event').first().locator('.toggle', { hasText: 'requestObject' }).click();
    await full.locator('.sink-event').first().getByText('"ConfigMap"', { exact: true }).waitFor();
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});

describe('the top view', () => {
  it('shows the groups as a table and draws their rates on a chart', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/?view=top&by=user,verb`);
    await w.page.locator('.top-table tbody tr').first().waitFor();
    expect(await w.page.locator('.top-table thead th').allTextContents()).toEqual([
      'user',
      'verb',
      'events',
      'bytes',
      'share',
    ]);
    expect(api.asked.some((a) => a.startsWith('/api/top?by=user%2Cverb&bucket=10s'))).toBe(true);
    const drawn = await w.page.waitForFunction(() => {
      const c = document.querySelector<HTMLCanvasElement>('.chart canvas');
      const ctx = c?.getContext('2d');
      if (!c || !ctx || c.width === 0) return 0;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
      return inked;
    });
    expect(await drawn.jsonValue()).toBeGreaterThan(100);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});

describe('the policy view', () => {
  it('shows for every event the rule it matches and its level, and the totals before and after', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/?view=policy`);
    await w.page.locator('select[name="policy"] option', { hasText: 'preset:cis' }).waitFor({ state: 'attached' });
    await w.page.selectOption('select[name="policy"]', 'preset:cis');
    await waitForTotal(w.page, 43);
    expect(new URL(w.page.url()).searchParams.get('policy')).toBe('preset:cis');
    expect(api.asked.some((a) => a.startsWith('/api/policy?policy=preset%3Acis&limit='))).toBe(true);
    const first = w.page.locator('.vlist .row.verdict').first();
    // The newest event is the fake's 43rd (index 42): rule 2, level Request.
    expect(await first.locator('.rule').textContent()).toBe('rule 2');
    expect(await first.locator('.plevel').textContent()).toBe('Request');
    const second = w.page.locator('.vlist .row.verdict').nth(1);
    expect(await second.locator('.rule').textContent()).toBe('rule 1');
    expect(await w.page.locator('.vlist .row.verdict', { hasText: 'no rule' }).count()).toBeGreaterThan(0);
    const totals = await w.page.locator('table.totals tbody tr').allTextContents();
    expect(totals[0]).toContain('before');
    expect(totals[0]).toContain('43');
    expect(totals[1]).toContain('after');
    expect(totals[1]).toContain('21');
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});
