import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeApi, fakeEvent, startFakeApi } from './fakeApi.js';
import { iso, many, mixed } from './fixtures.js';
import { launch, shownTotal, waitForTotal, watchedPage } from './browser.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

describe('the events view', () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await startFakeApi(mixed());
  });
  afterAll(async () => {
    await api?.close();
  });

  it('shows the stored events, newest first, with no error', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/`);
    await waitForTotal(w.page, 40);
    const first = await w.page.locator('.vlist button.row').first().textContent();
    expect(first).toContain('obj-39');
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  // Each filter, as tail's flag of the same name: the value typed goes into the URL and the list keeps what matches.
  const cases: [string, string, number][] = [
    ['verb', 'delete', 8],
    ['user', 'system:kube-scheduler', 20],
    ['namespace', 'kube-system', 20],
    ['resource', 'secrets', 8],
    ['code', '403', 10],
    ['stage', 'RequestReceived', 4],
    ['sink', 'secrets', 20],
    ['since', '2024-05-01T10:03:00Z', 4],
  ];
  for (const [key, value, count] of cases) {
    it(`filters by ${key} and holds it in the URL`, async () => {
      const w = await watchedPage(browser);
      await w.page.goto(`${api.url}/`);
      await waitForTotal(w.page, 40);
      await w.page.locator(`.filters input[name="${key}"]`).fill(value);
      await w.page.locator(`.filters input[name="${key}"]`).press('Enter');
      await waitForTotal(w.page, count);
      expect(new URL(w.page.url()).searchParams.getAll(key)).toEqual([value]);
      expect(api.asked.at(-1)).toContain(`${key}=${encodeURIComponent(value)}`);
      expect(await w.page.locator('.vlist button.row').count()).toBe(count);
      // The bookmarked URL opens the same view.
      const again = await watchedPage(browser);
      await again.page.goto(w.page.url());
      await waitForTotal(again.page, count);
      expect(await again.page.locator(`.filters input[name="${key}"]`).inputValue()).toBe(value);
      expect(w.errors.concat(again.errors)).toEqual([]);
      await Promise.all([w.page.close(), again.page.close()]);
    });
  }

  it('takes several values of a filter, as a repeated flag', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/?view=events&verb=get&verb=list`);
    await waitForTotal(w.page, 16);
    expect(await w.page.locator('.filters input[name="verb"]').inputValue()).toBe('get, list');
    await w.page.close();
  });

  it('shows a newly stored event on top while following', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/`);
    await waitForTotal(w.page, 40);
    await w.page.waitForFunction(() => document.querySelector('.live') !== null);
    // The follow stream must be open before the event is stored.
    await new Promise<void>((resolve) => {
      const poll = () => (api.asked.some((a) => a.startsWith('/api/follow')) ? resolve() : setTimeout(poll, 20));
      poll();
    });
    api.push(
      fakeEvent('default', 999, {
        auditID: 'new-1',
        verb: 'patch',
        user: 'newcomer',
        time: iso(Date.now()),
        name: 'fresh',
      }),
    );
    await waitForTotal(w.page, 41);
    expect(await w.page.locator('.vlist button.row').first().textContent()).toContain('newcomer');
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('opens a request from its row', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/`);
    await waitForTotal(w.page, 41);
    await w.page.locator('.vlist button.row', { hasText: 'obj-7' }).click();
    await w.page.locator('.view.request .audit-id').waitFor();
    expect(new URL(w.page.url()).searchParams.get('id')).toBe('id-7');
    expect(await w.page.locator('.audit-id').textContent()).toBe('id-7');
    await w.page.close();
  });
});

describe('the events view with 100,000 events', () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await startFakeApi(many(100_000));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('keeps only the rows on screen in the DOM, loading pages as it scrolls', async () => {
    const w = await watchedPage(browser);
    const cdp = await w.page.context().newCDPSession(w.page);
    await w.page.goto(`${api.url}/?follow=0`);
    await w.page.locator('.vlist button.row').first().waitFor();
    const paint = await w.page.evaluate(() => performance.now());
    expect(await shownTotal(w.page)).toBe(100_000);
    const domRows = await w.page.locator('.vrow').count();
    expect(domRows).toBeLessThan(100);
    // Down to the last row: every page gets loaded, still only a screenful drawn.
    await w.page.waitForFunction(
      () => {
        const list = document.querySelector('.vlist');
        if (!list) return false;
        list.scrollTop = list.scrollHeight;
        return [...document.querySelectorAll('.vlist button.row')].some((b) =>
          /object-0(?!\d)/.test(b.textContent ?? ''),
        );
      },
      undefined,
      { polling: 200 },
    );
    expect(await w.page.locator('.vrow').count()).toBeLessThan(100);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
    const mb = heap.usedSize / 1024 / 1024;
    console.log(
      `100,000 events: first rows drawn at ${paint.toFixed(0)} ms after navigation; ${domRows} rows in the DOM; ` +
        `JS heap with all 100,000 loaded: ${mb.toFixed(1)} MB`,
    );
    // The page's memory figure with 100,000 events.
    expect(mb).toBeLessThan(100);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});
