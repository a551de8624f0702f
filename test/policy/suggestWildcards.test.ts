// `policy suggest` on reads whose logged names the policy language reads as patterns (what an API
// server logs for GET /api/v1/*, a 404), through the built CLI (run `npm run build` first). Its
// promise is judged by `policy test` against the base preset on protected requests the input does
// not hold: secrets, exec and the other channels, writes and 401s (no user), by the very user the
// rules are about, by others, in namespaces in and out of the input.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEVELS, type Level } from '../../src/audit/model.js';
import { runCli } from '../harness/cli.js';
import { tempDir } from '../harness/lab.js';
import { EventLog, type Req, type Who } from './suggestInput.js';

const sa = (ns: string, name: string): Who => ({
  username: `system:serviceaccount:${ns}:${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
});
const reader = sa('tools', 'reader');
const kcm: Who = { username: 'system:kube-controller-manager', groups: ['system:authenticated'] };
const body = (n: number) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code: 404,
  message: 'x'.repeat(n),
});
const list = (n: number) => ({
  kind: 'ConfigMapList',
  apiVersion: 'v1',
  items: [{ metadata: { name: 'a' }, data: { a: 'y'.repeat(n) } }],
});

/** The report's reads and their kin: each name a rule would read as a pattern, read a lot. */
const WILDCARD_READS: Req[] = [
  { who: reader, verb: 'list', uri: '/api/v1/*', ref: { resource: '*' }, code: 404 },
  {
    who: reader,
    verb: 'get',
    uri: '/api/v1/namespaces/tools/pods/p/*',
    ref: { resource: 'pods', subresource: '*', namespace: 'tools', name: 'p' },
    code: 404,
  },
  {
    who: reader,
    verb: 'get',
    uri: '/api/v1/namespaces/tools/*/n/exec',
    ref: { resource: '*', subresource: 'exec', namespace: 'tools', name: 'n' },
    code: 404,
  },
  {
    who: reader,
    verb: 'list',
    uri: '/api/v1/namespaces/tools/*%2Fx',
    ref: { resource: '*/x', namespace: 'tools' },
    code: 404,
  },
  {
    who: reader,
    verb: 'list',
    uri: '/api/v1/namespaces/tools/pods%2F*',
    ref: { resource: 'pods/*', namespace: 'tools' },
    code: 404,
  },
  {
    who: reader,
    verb: 'list',
    uri: '/apis/*/v1/namespaces/tools/deployments',
    ref: { resource: 'deployments', apiGroup: '*', namespace: 'tools' },
    code: 404,
  },
  {
    who: reader,
    verb: 'list',
    uri: '/api/v1/namespaces/*/configmaps',
    ref: { resource: 'configmaps', namespace: '*' },
    code: 404,
  },
  {
    who: reader,
    verb: 'get',
    uri: '/api/v1/namespaces/tools/configmaps/*',
    ref: { resource: 'configmaps', namespace: 'tools', name: '*' },
    code: 404,
  },
  { who: reader, verb: 'get', uri: '*', code: 404 },
  { who: reader, verb: 'get', uri: '/x*', code: 404 },
  { who: kcm, verb: 'watch', uri: '/apis/*/v1/*', ref: { resource: '*', apiGroup: '*' }, code: 404 },
];

/** Reads a rule may cut, so that the suggestion is not empty. */
const PLAIN_READS: Req[] = [
  {
    who: reader,
    verb: 'list',
    uri: '/api/v1/namespaces/tools/configmaps',
    ref: { resource: 'configmaps', namespace: 'tools' },
    resp: list(1500),
  },
  { who: reader, verb: 'get', uri: '/metrics' },
  {
    who: kcm,
    verb: 'list',
    uri: '/api/v1/namespaces/kube-system/pods',
    ref: { resource: 'pods', namespace: 'kube-system' },
    resp: list(1500),
  },
];

function inputLog(): string[] {
  const log = new EventLog();
  for (let i = 0; i < 40; i++) {
    for (const r of WILDCARD_READS) log.emit({ ...r, resp: body(1500), stages: 'complete' });
    for (const r of PLAIN_READS) log.emit({ ...r, stages: 'complete' });
  }
  return log.lines;
}

interface Probe {
  id: string;
  what: string;
}

/**
 * Protected requests, none of them in the input: every combination of a user (the reader, a
 * service account and a node not in the input, an admin, no user at all as a 401 has), a
 * namespace (the input's, "*", another, none) and a protected request shape.
 */
function probeLog(): { lines: string[]; probes: Probe[] } {
  const log = new EventLog();
  const probes: Probe[] = [];
  const users: (Who | null)[] = [
    reader,
    sa('other', 'spy'),
    { username: 'system:node:worker-9', groups: ['system:nodes', 'system:authenticated'] },
    { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    null,
  ];
  const shapes: { verb: string; resource?: string; subresource?: string; apiGroup?: string; path?: string }[] = [];
  for (const apiGroup of ['', 'apps', '*']) {
    for (const subresource of ['', 'status', '*'])
      for (const verb of ['get', 'list', 'watch', 'create'])
        shapes.push({ verb, resource: 'secrets', subresource, apiGroup });
    for (const resource of ['pods', '*', 'services'])
      for (const subresource of ['exec', 'attach', 'portforward', 'proxy'])
        for (const verb of ['get', 'create']) shapes.push({ verb, resource, subresource, apiGroup });
    for (const resource of ['configmaps', '*', 'pods', 'deployments']) {
      for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection'])
        shapes.push({ verb, resource, apiGroup });
      shapes.push({ verb: 'update', resource, subresource: '*', apiGroup });
    }
  }
  // Reads: protected only for the 401s below (no user).
  for (const resource of ['configmaps', '*', 'pods'])
    for (const verb of ['get', 'list']) shapes.push({ verb, resource }, { verb, resource, subresource: '*' });
  for (const path of ['/metrics', '*', '/x*', '/api', '/healthz', '/version']) {
    for (const verb of ['get', 'head', 'post', 'put', 'delete']) shapes.push({ verb, path });
  }
  for (const who of users) {
    for (const namespace of ['tools', '*', 'other', '']) {
      for (const s of shapes) {
        const isRead =
          s.path === undefined ? ['get', 'list', 'watch'].includes(s.verb) : ['get', 'head'].includes(s.verb);
        const isProtected =
          who === null ||
          !isRead ||
          s.resource === 'secrets' ||
          ['exec', 'attach', 'portforward', 'proxy'].includes(s.subresource ?? '');
        if (!isProtected) continue;
        if (s.path !== undefined && namespace !== '') continue;
        const ref =
          s.path === undefined
            ? {
                resource: s.resource!,
                subresource: s.subresource || undefined,
                apiGroup: s.apiGroup || undefined,
                namespace: namespace || undefined,
                name: 'n1',
              }
            : undefined;
        const uri = s.path ?? `/apis/${s.apiGroup}/v1/namespaces/${namespace}/${s.resource}/n1/${s.subresource ?? ''}`;
        const id = log.emit({ who, verb: s.verb, uri, ref, code: who === null ? 401 : 200, stages: 'complete' });
        probes.push({
          id,
          what: `${who?.username ?? '(no user, 401)'} ${s.verb} ${s.path ?? `${s.apiGroup ?? ''}/${s.resource}${s.subresource ? `/${s.subresource}` : ''} in "${namespace}"`}`,
        });
      }
    }
  }
  return { lines: log.lines, probes };
}

interface Verdict {
  auditID: string;
  level: Level;
}
interface Suggested {
  yaml: string;
  policy: {
    rules: {
      resources?: { group: string; resources?: string[] }[];
      namespaces?: string[];
      nonResourceURLs?: string[];
    }[];
  };
  rules: unknown[];
  before: { bytes: number };
  after: { bytes: number };
}

const rank = (l: Level) => LEVELS.indexOf(l);
let dir: string;
let cleanup: () => Promise<void>;
let probes: Probe[];
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('audit-lab-suggest-wild-'));
  const probe = probeLog();
  probes = probe.probes;
  await writeFile(join(dir, 'audit.log'), `${inputLog().join('\n')}\n`);
  await writeFile(join(dir, 'probes.log'), `${probe.lines.join('\n')}\n`);
});
afterAll(() => cleanup());

async function levels(policy: string): Promise<Map<string, Level>> {
  const r = await runCli(['policy', 'test', policy, '--events', join(dir, 'probes.log'), '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return new Map((JSON.parse(r.stdout) as { results: Verdict[] }).results.map((v) => [v.auditID, v.level]));
}

describe.each(['preset:recommended', 'preset:request-response'])(
  'policy suggest from %s, on reads of wildcard names',
  (from) => {
    let s: Suggested;
    let base: Map<string, Level>;
    let after: Map<string, Level>;
    beforeAll(async () => {
      const r = await runCli(['policy', 'suggest', '--file', join(dir, 'audit.log'), '--from', from, '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
      s = JSON.parse(r.stdout) as Suggested;
      const file = join(dir, `${from.slice(7)}.yaml`);
      await writeFile(file, s.yaml);
      [base, after] = await Promise.all([levels(from), levels(file)]);
    });

    it('still cuts the plain reads', () => {
      expect(s.rules.length).toBeGreaterThan(0);
      expect(s.after.bytes).toBeLessThan(s.before.bytes);
    });

    it('gives no protected request outside the input a lower level than the base policy does', () => {
      expect(after.size).toBe(probes.length);
      const lowered = probes
        .filter((p) => rank(after.get(p.id)!) < rank(base.get(p.id)!))
        .map((p) => `${p.what}: ${base.get(p.id)} -> ${after.get(p.id)}`);
      expect(lowered, s.yaml).toEqual([]);
    });

    it('writes no observed pattern into a rule', () => {
      const added = s.policy.rules.slice(0, s.rules.length);
      const written = added.flatMap((r) => [
        ...(r.resources ?? []).flatMap((g) => [g.group, ...(g.resources ?? [])]),
        ...(r.namespaces ?? []),
      ]);
      expect(written.filter((n) => n.includes('*') || n.includes('%'))).toEqual([]);
      expect(added.flatMap((r) => r.nonResourceURLs ?? []).filter((u) => u === '*' || u === '/x*')).toEqual([]);
    });
  },
);
