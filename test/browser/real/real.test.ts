/**
 * The page against the real `audit-lab ui` (the built CLI, in its own process) over a lab whose
 * receiver runs in the background: the token lets the browser in and its absence does not, the
 * events the receiver stored are listed as `tail` lists them, a filter narrows the list as `tail`'s
 * flag does, and an event posted to the receiver appears while the page follows (waited for; the
 * delay is printed, not asserted).
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureReceiver } from '../../../src/daemon/daemon.js';
import { STATIC_PATH } from '../../../src/lab/endpoints.js';
import { type CliProcess, runCli, startCli } from '../../harness/cli.js';
import { eventList, makeEvent } from '../../harness/events.js';
import { removeWithReceiver, type TempLab, tempLab } from '../../harness/lab.js';
import { post } from '../../harness/receiver.js';
import { eventually } from '../../harness/wait.js';

// Node's types, not the DOM's (src/ is type-checked with them): so no import of ../browser.ts here.
const CHROMIUM = process.env.AUDIT_LAB_CHROMIUM ?? '/usr/bin/chromium';

interface Watched {
  page: Page;
  errors: string[];
}

async function watchedPage(b: Browser): Promise<Watched> {
  const page = await b.newPage();
  const w: Watched = { page, errors: [] };
  page.on('dialog', (d) => {
    w.errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => w.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(`console: ${m.text()}`);
  });
  return w;
}

/** Waits until the page's count of matching events says `n`. */
async function waitForTotal(page: Page, n: number): Promise<void> {
  const shown = async () =>
    Number(((await page.locator('.status .count').first().textContent()) ?? '').replace(/[^0-9]/g, ''));
  const ok = await eventually(async () => (await shown()) === n, undefined, 100);
  expect(await shown(), `the page's count of events`).toBe(n);
  expect(ok).toBe(true);
}

let t: TempLab;
let ui: CliProcess;
let url: string;
let browser: Browser;
let receiverUrl: string;

const env = () => ({ AUDIT_LAB_HOME: t.home, NO_COLOR: '1' });

async function postEvents(events: unknown[]): Promise<void> {
  const res = await post(`${receiverUrl}${STATIC_PATH}`, eventList(events), {
    ca: t.lab.pki.ca.cert,
    cert: t.lab.pki.client,
  });
  expect(res.status).toBe(200);
}

/** How many events `tail --no-follow -o jsonl` lists with these flags. */
async function tailCount(flags: string[]): Promise<number> {
  const r = await runCli(['tail', '--no-follow', '-o', 'jsonl', ...flags], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '').length;
}

beforeAll(async () => {
  t = await tempLab(
    [
      { name: 'default', level: 'Metadata', stages: ['ResponseComplete'] },
      { name: 'full', level: 'RequestResponse', stages: ['RequestReceived', 'ResponseComplete'] },
    ],
    0,
  );
  receiverUrl = (await ensureReceiver(t.lab.paths, { env: { ...process.env, ...env() } })).url;
  // Events that differ in every field a filter reads.
  const kinds = [
    { verb: 'get', user: 'alice', ns: 'default', resource: 'configmaps', code: 200 },
    { verb: 'list', user: 'bob', ns: 'kube-system', resource: 'pods', code: 200 },
    { verb: 'create', user: 'alice', ns: 'team-a', resource: 'deployments', code: 201, group: 'apps' },
    { verb: 'update', user: 'system:serviceaccount:kube-system:x', ns: 'kube-system', resource: 'secrets', code: 403 },
    { verb: 'delete', user: 'bob', ns: 'default', resource: 'pods', code: 404 },
  ];
  await postEvents(
    kinds.map((k, i) => ({
      ...makeEvent({ level: 'Metadata', objects: false }),
      auditID: `a-${i}`,
      verb: k.verb,
      user: { username: k.user, groups: ['system:authenticated'] },
      objectRef: { resource: k.resource, namespace: k.ns, name: `o-${i}`, ...(k.group ? { apiGroup: k.group } : {}) },
      responseStatus: { metadata: {}, code: k.code },
      requestReceivedTimestamp: new Date(Date.now() - (10 - i) * 1000).toISOString(),
      stageTimestamp: new Date(Date.now() - (10 - i) * 1000 + 2).toISOString(),
    })),
  );
  // One request at two stages with its objects: `full` keeps both, `default` the last at Metadata.
  const request = makeEvent({ auditID: 'req-1', level: 'RequestResponse' });
  await postEvents([{ ...request, stage: 'RequestReceived', responseObject: undefined }, request]);
  ui = startCli(['ui', '--no-open'], { env: env() });
  url = await ui.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/, 'the URL audit-lab ui prints');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu'] });
});

afterAll(async () => {
  await browser?.close();
  await ui?.stop();
  if (t) await removeWithReceiver(t);
});

describe('the page on the real server', () => {
  it('lets in the URL with its token, and nothing without it', async () => {
    const bare = new URL(url);
    bare.search = '';
    // In a page of its own: the browser logs the refused loads (the page, its favicon) as console errors.
    const outside = await watchedPage(browser);
    expect((await outside.page.goto(bare.toString()))?.status()).toBe(401);
    expect(await outside.page.locator('body').textContent()).toContain('audit-lab ui');
    await outside.page.close();
    const w = await watchedPage(browser);
    await w.page.goto(url);
    // The token is traded for a cookie and leaves the address bar.
    expect(new URL(w.page.url()).searchParams.get('token')).toBeNull();
    await waitForTotal(w.page, await tailCount([]));
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  // Each filter as a URL of the page and as tail's flag: the page counts what tail lists.
  const FILTERS: [string, string, string[]][] = [
    ['verb', 'create', ['--verb', 'create']],
    ['user', 'bob', ['--user', 'bob']],
    ['namespace', 'kube-system', ['--namespace', 'kube-system']],
    ['resource', 'deploy', ['--resource', 'deploy']],
    ['resource', 'po', ['--resource', 'po']],
    ['code', '4xx', ['--code', '4xx']],
    ['stage', 'ResponseComplete', ['--stage', 'ResponseComplete']],
    ['sink', 'default', ['--sink', 'default']],
    ['since', '1h', ['--since', '1h']],
  ];

  it.each(FILTERS)('narrows the list by %s=%s as tail does', async (param, value, flags) => {
    const w = await watchedPage(browser);
    await w.page.goto(url);
    const want = await tailCount(flags);
    expect(want).toBeLessThanOrEqual(await tailCount([]));
    await w.page.goto(`${new URL(url).origin}/?${new URLSearchParams({ [param]: value })}`);
    await waitForTotal(w.page, want);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it("shows each event's rule and level as policy test -o json judges them", async () => {
    const r = await runCli(['policy', 'test', 'preset:recommended', '--sink', 'default', '-o', 'json'], {
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { results: { level: string; rule: number | null }[] };
    const want = doc.results.map((v) => `${v.rule === null ? 'no rule' : `rule ${v.rule}`} ${v.level}`).sort();
    expect(want.length).toBeGreaterThan(0);
    const w = await watchedPage(browser);
    await w.page.goto(url);
    await w.page.goto(`${new URL(url).origin}/?view=policy&policy=preset%3Arecommended&sink=default`);
    const shown = async () => {
      const rules = await w.page.locator('.row.verdict .rule').allTextContents();
      const levels = await w.page.locator('.row.verdict .plevel').allTextContents();
      return rules
        .map((rule, k) => `${rule} ${levels[k] ?? ''}`)
        .filter((t) => t.trim() !== '')
        .sort();
    };
    expect(await eventually(async () => (await shown()).length === want.length, undefined, 100)).toBe(true);
    expect(await shown()).toEqual(want);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('shows one request stage by stage and as each sink stored it, with what Metadata left out marked', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(url);
    await w.page.goto(`${new URL(url).origin}/?view=request&id=req-1`);
    const view = w.page.locator('.view.request');
    await view.locator('.timeline .stage').first().waitFor();
    expect(await view.locator('.timeline .stage-name').allTextContents()).toContain('RequestReceived');
    const metadata = view.locator('.sink-col[data-sink="default"]');
    expect(await metadata.locator('.omitted').allTextContents()).toContain('absent: left out at level Metadata');
    expect(await view.locator('.sink-col[data-sink="full"] .sink-event').count()).toBe(2);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('draws the groups of top on a chart', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(url);
    await w.page.goto(`${new URL(url).origin}/?view=top&by=user,verb`);
    await w.page.locator('.top-table tbody tr').first().waitFor();
    // As a string: this file is type-checked without the DOM's types.
    const inked = await w.page.waitForFunction(`(() => {
      const c = document.querySelector('.chart canvas');
      const ctx = c && c.getContext('2d');
      if (!c || !ctx || c.width === 0) return 0;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
      return n > 100 ? n : 0;
    })()`);
    expect(Number(await inked.jsonValue())).toBeGreaterThan(100);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('shows an event posted to the receiver while it follows', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(url);
    const before = await tailCount([]);
    await waitForTotal(w.page, before);
    const posted = Date.now();
    await postEvents([{ ...makeEvent({ level: 'Metadata', objects: false }), verb: 'patch', auditID: 'followed-1' }]);
    await waitForTotal(w.page, before + 1);
    await w.page.getByText('patch', { exact: true }).first().waitFor();
    console.log(`an event posted to the receiver was on the page ${Date.now() - posted} ms after its 200`);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});
