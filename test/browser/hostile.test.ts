import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, waitForTotal, watchedPage } from './browser.js';
import { type FakeApi, startFakeApi } from './fakeApi.js';
import { HOSTILE, hostile } from './fixtures.js';

let browser: Browser;
let api: FakeApi;
beforeAll(async () => {
  browser = await launch();
  api = await startFakeApi(hostile(), {
    sinks: [{ name: 'default', level: 'RequestResponse', stages: ['ResponseComplete'] }],
  });
});
afterAll(async () => {
  await api?.close();
  await browser?.close();
});

describe('hostile events', () => {
  it('run nothing in the list and show their text as text', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/`);
    await waitForTotal(w.page, 6);
    const list = w.page.locator('.vlist');
    await list.getByText(HOSTILE.script, { exact: true }).waitFor();
    await list.getByText(HOSTILE.img, { exact: true }).waitFor();
    await list.getByText(HOSTILE.js, { exact: true }).waitFor();
    // Bidi and control characters are shown as escapes, never applied.
    await list.getByText('admin\\u202egnp.exe\\u0007\\u001b[31m', { exact: true }).waitFor();
    // The 1 MB string is cut in its row, saying how much was left out.
    const big = (await list.locator('.cell.name', { hasText: 'chars)' }).first().textContent()) ?? '';
    expect(big.length).toBeLessThan(300);
    expect(big).toContain(`+${(HOSTILE.big.length - 120).toLocaleString('en')} chars`);
    const found = await w.page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: unknown }).__pwned,
      scripts: document.querySelectorAll('script').length,
      imgs: document.querySelectorAll('img').length,
      links: document.querySelectorAll('a[href]').length,
      userHtml: document.querySelector('.vlist')?.innerHTML.includes('<script>') ?? true,
    }));
    expect(found).toEqual({ pwned: undefined, scripts: 1, imgs: 0, links: 0, userHtml: false });
    expect(w.dialogs).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('open a 10,000-deep requestObject one level at a time, and a 1 MB string on demand', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${api.url}/?view=request&id=h-deep`);
    const tree = w.page.locator('.view.request > .tree');
    await tree.waitFor();
    // Nothing below the top level is drawn until opened.
    expect(await tree.locator('.node').count()).toBeLessThan(40);
    await tree.locator('.toggle', { hasText: 'requestObject' }).click();
    for (let depth = 0; depth < 5; depth++) {
      await tree.locator('.toggle[aria-expanded="false"]', { hasText: /^▸ a/ }).last().click();
    }
    const opened = await tree.locator('.toggle[aria-expanded="true"]').count();
    expect(opened).toBe(6);
    expect(await tree.locator('.node').count()).toBeLessThan(60);

    await w.page.goto(`${api.url}/?view=request&id=h-big`);
    const big = w.page.locator('.view.request > .tree');
    await big.locator('.toggle', { hasText: 'objectRef' }).click();
    const name = big.locator('.node.leaf', { hasText: /^name:/ });
    expect(((await name.textContent()) ?? '').length).toBeLessThan(2200);
    await name.locator('button.more').click();
    await w.page.waitForFunction(
      (n) =>
        [...document.querySelectorAll('.view.request > .tree .val.string')].some((e) => e.textContent?.length === n),
      HOSTILE.big.length + 2,
    );
    expect(await w.page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(w.dialogs).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});
