/** Events for the page's tests: an ordinary mix, a large lab, and hostile ones. */
import { type FakeEvent, fakeEvent } from './fakeApi.js';

const BASE = Date.parse('2024-05-01T10:00:00Z');

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/** 40 events: the filters each keep a known part of them. */
export function mixed(): FakeEvent[] {
  const verbs = ['get', 'list', 'watch', 'update', 'delete'];
  const users = ['kubernetes-admin', 'system:kube-scheduler'];
  const namespaces = ['default', 'kube-system'];
  const resources = ['pods', 'leases', 'secrets', 'configmaps'];
  const codes = [200, 200, 200, 403];
  const out: FakeEvent[] = [];
  for (let i = 0; i < 40; i++) {
    out.push(
      fakeEvent(i % 2 === 0 ? 'default' : 'secrets', i, {
        auditID: `id-${i}`,
        verb: verbs[i % 5]!,
        user: users[i % 2]!,
        namespace: namespaces[Math.floor(i / 2) % 2]!,
        resource: resources[Math.floor(i / 4) % 4]!,
        code: codes[i % 4]!,
        stage: i % 10 === 0 ? 'RequestReceived' : 'ResponseComplete',
        time: iso(BASE + i * 5_000),
        name: `obj-${i}`,
      }),
    );
  }
  return out;
}

export function many(n: number): FakeEvent[] {
  const out: FakeEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      fakeEvent('default', i * 700, {
        auditID: `big-${i}`,
        verb: i % 3 === 0 ? 'list' : 'get',
        user: `user-${i % 50}`,
        resource: i % 2 === 0 ? 'pods' : 'leases',
        namespace: `ns-${i % 20}`,
        time: iso(BASE + i * 10),
        name: `object-${i}`,
      }),
    );
  }
  return out;
}

/** A requestObject nested `depth` deep, as JSON text (never built as an object here). */
export function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}"bottom"${'}'.repeat(depth)}`;
}

export const HOSTILE = {
  script: '<script>alert(1)</script>',
  img: '<img src=x onerror=window.__pwned=1>',
  js: 'javascript:window.__pwned=1',
  bidi: 'admin\u202Egnp.exe\u0007\u001b[31m',
  big: 'x'.repeat(1024 * 1024),
};

export function hostile(): FakeEvent[] {
  const t = BASE;
  return [
    fakeEvent('default', 1, { auditID: 'h-script', verb: 'get', user: HOSTILE.script, time: iso(t + 1) }),
    fakeEvent('default', 2, { auditID: 'h-img', verb: 'get', user: 'u', name: HOSTILE.img, time: iso(t + 2) }),
    fakeEvent('default', 3, { auditID: 'h-js', verb: 'get', user: 'u', requestURI: HOSTILE.js, time: iso(t + 3) }),
    fakeEvent('default', 4, { auditID: 'h-bidi', verb: 'get', user: HOSTILE.bidi, time: iso(t + 4) }),
    fakeEvent('default', 5, { auditID: 'h-big', verb: 'get', user: 'u', name: HOSTILE.big, time: iso(t + 5) }),
    fakeEvent(
      'default',
      6,
      { auditID: 'h-deep', verb: 'create', user: 'deep', level: 'RequestResponse', time: iso(t + 6) },
      deepJson(10_000),
    ),
  ];
}
