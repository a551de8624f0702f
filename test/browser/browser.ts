/**
 * A real headless Chromium (Debian's, never downloaded) for the page's tests, and a page that records what must never
 * happen: dialogs, uncaught errors, console errors (a CSP violation is one).
 */
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.AUDIT_LAB_CHROMIUM ?? '/usr/bin/chromium';
/** A guard against a hang, never a measure: waits are for a condition. */
export const GUARD_MS = 60_000;

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu'] });
}

export interface Watched {
  page: Page;
  dialogs: string[];
  errors: string[];
}

export async function watchedPage(browser: Browser): Promise<Watched> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(GUARD_MS);
  const w: Watched = { page, dialogs: [], errors: [] };
  page.on('dialog', (d) => {
    w.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => w.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(`console: ${m.text()}`);
  });
  return w;
}

/** The shown count of matching events ("1,234 events"), as a number. */
export async function shownTotal(page: Page): Promise<number> {
  const text = (await page.locator('.status .count').first().textContent()) ?? '';
  return Number(text.replace(/[^0-9]/g, ''));
}

export async function waitForTotal(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (want) => document.querySelector('.status .count')?.textContent?.replace(/[^0-9]/g, '') === String(want),
    n,
  );
}
