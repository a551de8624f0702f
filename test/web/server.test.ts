/** `audit-lab ui`'s server: who it answers (token, cookie, Host, Origin) and the headers on every response. */
import { describe, expect, it } from 'vitest';
import { makeLab, putFixture, testDir } from '../harness/lab.js';
import { PLACEHOLDER, type Reply, startUi } from './client.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function expectStrictHeaders(r: Reply): void {
  expect(r.headers['content-security-policy']).toBe(CSP);
  expect(r.headers['x-content-type-options']).toBe('nosniff');
  expect(r.headers['referrer-policy']).toBe('no-referrer');
  expect(r.headers['cache-control']).toBe('no-store');
}

async function ui() {
  const paths = await makeLab(await testDir());
  await putFixture(paths, 'default.log');
  return startUi(paths);
}

describe('audit-lab ui: who is answered', () => {
  it('turns the token of the printed URL into an HttpOnly SameSite=Strict cookie (303 to /), which then opens the page', async () => {
    const u = await ui();
    expect(u.server.url).toBe(`http://127.0.0.1:${u.server.port}/?token=${u.token}`);
    expect(u.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const r = await u.get(`/?token=${u.token}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(r.headers['set-cookie']).toEqual([`audit_lab_ui=${u.token}; HttpOnly; SameSite=Strict; Path=/`]);
    expectStrictHeaders(r);
    const page = await u.get('/', { Cookie: `audit_lab_ui=${u.token}` });
    expect(page.status).toBe(200);
    expect(page.body).toBe(PLACEHOLDER);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expectStrictHeaders(page);
    const js = await u.get('/app.js', { Cookie: `other=1; audit_lab_ui=${u.token}` });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
  });

  it('refuses a request without the token, or with a wrong one, with 401 and a page saying what to open', async () => {
    const u = await ui();
    const wrong = `${u.token.slice(0, -1)}${u.token.endsWith('A') ? 'B' : 'A'}`;
    for (const r of [
      await u.get('/'),
      await u.get('/api/events'),
      await u.get(`/?token=${wrong}`),
      await u.get('/', { Cookie: `audit_lab_ui=${wrong}` }),
      await u.get('/api/meta', { Cookie: 'audit_lab_ui=' }),
    ]) {
      expect(r.status).toBe(401);
      expect(r.body).toContain('audit-lab ui');
      expect(r.headers['set-cookie']).toBeUndefined();
      expectStrictHeaders(r);
    }
  });

  it('answers 421 to a Host that is not the loopback address with its port (DNS rebinding), token or not', async () => {
    const u = await ui();
    const port = u.server.port;
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1:${port + 1}`, `127.0.0.1`]) {
      const r = await u.get(`/?token=${u.token}`, { Host: host });
      expect(r.status, host).toBe(421);
      expectStrictHeaders(r);
    }
    for (const host of [`localhost:${port}`, `[::1]:${port}`]) {
      expect((await u.get(`/?token=${u.token}`, { Host: host })).status, host).toBe(303);
    }
  });

  it("answers 403 to an Origin that is not the page's own, and serves its own", async () => {
    const u = await ui();
    const cookie = `audit_lab_ui=${u.token}`;
    for (const origin of ['http://evil.example', `http://localhost:${u.server.port}`, 'null', `https://${u.host}`]) {
      const r = await u.get('/api/meta', { Cookie: cookie, Origin: origin });
      expect(r.status, origin).toBe(403);
      expectStrictHeaders(r);
    }
    expect((await u.get('/api/meta', { Cookie: cookie, Origin: `http://${u.host}` })).status).toBe(200);
  });

  it('puts the strict headers on a 404, a 400 and the JSON API too', async () => {
    const u = await ui();
    const cookie = `audit_lab_ui=${u.token}`;
    const missing = await u.get('/nothing.html', { Cookie: cookie });
    expect(missing.status).toBe(404);
    expectStrictHeaders(missing);
    const outside = await u.get('/..%2f..%2fetc%2fpasswd', { Cookie: cookie });
    expect(outside.status).toBe(404);
    const bad = await u.get('/api/events?code=999', { Cookie: cookie });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toContain('999');
    expectStrictHeaders(bad);
    const api = await u.get('/api/events', { Cookie: cookie });
    expect(api.status).toBe(200);
    expect(api.headers['content-type']).toMatch(/^application\/json/);
    expectStrictHeaders(api);
  });
});
