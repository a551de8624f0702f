import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyEvaluator, type RequestAttributes } from '../../src/audit/policyEngine.js';
import { loadPolicy } from '../../src/audit/policyLoader.js';
import { eventAtLevel } from '../../src/audit/level.js';
import { describeRule } from '../../src/audit/verdict.js';
import { listPresets, PRESETS_DIR, readPolicySource } from '../../src/audit/presets.js';
import { UserError } from '../../src/errors.js';
import { ROOT } from '../harness/cli.js';

const load = (name: string) => loadPolicy(readFileSync(join(PRESETS_DIR, `${name}.yaml`), 'utf8'), `preset:${name}`);

const USERS: [string, string[]][] = [
  ['kubernetes-admin', ['kubeadm:cluster-admins', 'system:authenticated']],
  ['system:kube-proxy', ['system:authenticated']],
  ['system:node:n1', ['system:nodes', 'system:authenticated']],
  ['system:serviceaccount:kube-system:default', ['system:serviceaccounts', 'system:authenticated']],
];
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

function everyRequest(resource: Partial<RequestAttributes>): RequestAttributes[] {
  const out: RequestAttributes[] = [];
  for (const [user, groups] of USERS) {
    for (const verb of VERBS) {
      out.push({
        user,
        groups,
        verb,
        resourceRequest: true,
        namespace: 'default',
        apiGroup: '',
        resource: '',
        subresource: '',
        name: 'x',
        path: '',
        ...resource,
      });
    }
  }
  return out;
}
const nonResource = (path: string, verb = 'get'): RequestAttributes => ({
  user: 'system:anonymous',
  groups: ['system:unauthenticated'],
  verb,
  resourceRequest: false,
  namespace: '',
  apiGroup: '',
  resource: '',
  subresource: '',
  name: '',
  path,
});

describe('presets', () => {
  it('ship metadata, recommended and request-response, from templates/ (in package.json "files")', async () => {
    expect(await listPresets()).toEqual(['metadata', 'recommended', 'request-response']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('templates/');
    expect(PRESETS_DIR).toBe(join(ROOT, 'templates/policies/'));
  });

  it.each(['metadata', 'recommended', 'request-response'])('%s loads, and on clusters before 1.36 too', (name) => {
    const text = readFileSync(join(PRESETS_DIR, `${name}.yaml`), 'utf8');
    expect(loadPolicy(text, name).rules.length).toBeGreaterThan(0);
    expect(loadPolicy(text, name, { groupWildcard: false }).rules.length).toBeGreaterThan(0);
  });

  it('metadata and request-response: one level for everything', () => {
    const all = [
      ...everyRequest({ resource: 'secrets' }),
      ...everyRequest({ apiGroup: 'apps', resource: 'deployments', subresource: 'scale' }),
      nonResource('/healthz'),
    ];
    const m = new PolicyEvaluator(load('metadata'));
    const rr = new PolicyEvaluator(load('request-response'));
    for (const a of all) {
      expect(m.evaluate(a).level).toBe('Metadata');
      expect(rr.evaluate(a)).toMatchObject({ level: 'RequestResponse', omitStages: [] });
    }
  });

  describe('recommended', () => {
    const ev = new PolicyEvaluator(load('recommended'));

    it.each([
      ['secrets', { resource: 'secrets' }],
      ['configmaps', { resource: 'configmaps' }],
      ['service account tokens', { resource: 'serviceaccounts', subresource: 'token' }],
      ['tokenreviews', { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', namespace: '' }],
    ])('%s: Metadata for every user and verb, so their content never lands in the log', (_n, r) => {
      for (const a of everyRequest(r)) expect(ev.evaluate(a).level).toBe('Metadata');
    });

    it('RBAC changes: RequestResponse', () => {
      for (const resource of ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings']) {
        for (const a of everyRequest({ apiGroup: 'rbac.authorization.k8s.io', resource })) {
          if (['create', 'update', 'patch', 'delete', 'deletecollection'].includes(a.verb))
            expect(ev.evaluate(a).level).toBe('RequestResponse');
        }
      }
    });

    it('noise: health checks, leases and events are not logged', () => {
      for (const path of ['/healthz', '/healthz/etcd', '/readyz', '/livez', '/livez/ping'])
        expect(ev.evaluate(nonResource(path)).level).toBe('None');
      for (const a of everyRequest({ apiGroup: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' }))
        expect(ev.evaluate(a).level).toBe('None');
      for (const a of everyRequest({ resource: 'events' })) expect(ev.evaluate(a).level).toBe('None');
      for (const a of everyRequest({ apiGroup: 'events.k8s.io', resource: 'events' }))
        expect(ev.evaluate(a).level).toBe('None');
    });

    it('omits RequestReceived everywhere, and ends with a catch-all at Metadata or Request', () => {
      const p = load('recommended');
      expect(p.omitStages).toContain('RequestReceived');
      const last = p.rules[p.rules.length - 1]!;
      expect(describeRule(last)).toBe('everything');
      expect(['Metadata', 'Request']).toContain(last.level);
      expect(ev.evaluate(nonResource('/metrics', 'post')).level).not.toBe('None');
      expect(
        ev.evaluate(everyRequest({ apiGroup: 'apps', resource: 'deployments' }).find((a) => a.verb === 'patch')!).level,
      ).toBe('Request');
    });
  });

  it('preset:NAME reads the preset; an unknown one lists them', async () => {
    expect((await readPolicySource('preset:metadata', '/')).text).toContain('level: Metadata');
    const err = await readPolicySource('preset:nope', '/').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      'unknown policy preset "nope": the presets are preset:metadata, preset:recommended, preset:request-response',
    );
  });
});

describe('report helpers', () => {
  it('describeRule: what a rule selects, in one short line', () => {
    const p = load('recommended');
    expect(describeRule(p.rules[0]!)).toBe('urls=/healthz*,/readyz*,/livez*,+1');
    expect(describeRule(p.rules[1]!)).toBe('resources=coordination.k8s.io/leases');
    expect(describeRule(p.rules[3]!)).toBe(
      'users=system:kube-proxy verbs=watch resources={endpoints,services,services/status},discovery.k8s.io/endpointslices',
    );
  });

  it('eventAtLevel: Metadata drops both objects, Request the response, managedFields go when asked', () => {
    const mf = [{ manager: 'kubectl' }];
    const event = {
      level: 'RequestResponse',
      requestObject: { metadata: { name: 'a', managedFields: mf } },
      responseObject: { kind: 'PodList', items: [{ metadata: { name: 'a', managedFields: mf } }] },
    };
    expect(eventAtLevel(event, 'Metadata')).toEqual({ level: 'Metadata' });
    expect(eventAtLevel(event, 'Request')).toEqual({ level: 'Request', requestObject: event.requestObject });
    expect(eventAtLevel(event, 'RequestResponse', { omitManagedFields: true })).toEqual({
      level: 'RequestResponse',
      requestObject: { metadata: { name: 'a' } },
      responseObject: { kind: 'PodList', items: [{ metadata: { name: 'a' } }] },
    });
    // The stored event is not touched.
    expect(event.requestObject.metadata.managedFields).toBe(mf);
  });
});
