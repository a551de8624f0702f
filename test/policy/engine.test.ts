import { describe, expect, it } from 'vitest';
import {
  type Decision,
  eventAttributes,
  type GroupResources,
  type Policy,
  PolicyEvaluator,
  type PolicyRule,
  type RequestAttributes,
  requestPath,
  stageLogged,
} from '../../src/audit/policyEngine.js';

function rule(r: Partial<Omit<PolicyRule, 'resources'>> & { resources?: Partial<GroupResources>[] }): PolicyRule {
  return {
    level: 'Metadata',
    users: [],
    userGroups: [],
    verbs: [],
    namespaces: [],
    nonResourceURLs: [],
    omitStages: [],
    omitManagedFields: null,
    ...r,
    resources: (r.resources ?? []).map((g) => ({ group: '', resources: [], resourceNames: [], ...g })),
  };
}

function policy(rules: PolicyRule[], extra: Partial<Policy> = {}): Policy {
  return { rules, omitStages: [], omitManagedFields: false, ...extra };
}

const base: RequestAttributes = {
  user: 'alice',
  groups: ['dev', 'system:authenticated'],
  verb: 'get',
  resourceRequest: true,
  namespace: 'default',
  apiGroup: '',
  resource: 'pods',
  subresource: '',
  name: 'web-1',
  path: '',
};
const res = (a: Partial<RequestAttributes> = {}): RequestAttributes => ({ ...base, ...a });
const url = (path: string, a: Partial<RequestAttributes> = {}): RequestAttributes => ({
  ...base,
  resourceRequest: false,
  namespace: '',
  resource: '',
  name: '',
  path,
  ...a,
});

/** Whether the single rule matches: it is rule 0 of a policy with no catch-all. */
function matches(r: PolicyRule, a: RequestAttributes, opts = {}): boolean {
  return new PolicyEvaluator(policy([r]), opts).evaluate(a).rule === 0;
}

describe('rule fields', () => {
  it.each<[string, PolicyRule, RequestAttributes, boolean]>([
    ['users: listed', rule({ users: ['bob', 'alice'] }), res(), true],
    ['users: not listed', rule({ users: ['bob'] }), res(), false],
    ['users: exact, case-sensitive', rule({ users: ['Alice'] }), res(), false],
    ['users: "*" is no wildcard', rule({ users: ['*'] }), res(), false],
    ['users: "" matches the empty user name', rule({ users: [''] }), res({ user: '' }), true],
    ['userGroups: any group of the user', rule({ userGroups: ['ops', 'dev'] }), res(), true],
    ['userGroups: none shared', rule({ userGroups: ['ops'] }), res(), false],
    ['userGroups: a user with no groups', rule({ userGroups: ['dev'] }), res({ groups: [] }), false],
    ['users and userGroups: both must hold', rule({ users: ['alice'], userGroups: ['ops'] }), res(), false],
    ['verbs: listed', rule({ verbs: ['list', 'get'] }), res(), true],
    ['verbs: not listed', rule({ verbs: ['list'] }), res(), false],
    ['verbs: "*" is no wildcard', rule({ verbs: ['*'] }), res(), false],
    [
      'empty lists match everything',
      rule({ users: [], userGroups: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [] }),
      url('/x'),
      true,
    ],
    ['namespaces: listed', rule({ namespaces: ['kube-system', 'default'] }), res(), true],
    ['namespaces: not listed', rule({ namespaces: ['kube-system'] }), res(), false],
    ['namespaces: "" is cluster-scoped', rule({ namespaces: [''] }), res({ namespace: '', resource: 'nodes' }), true],
    ['namespaces: "" is not a namespaced request', rule({ namespaces: [''] }), res(), false],
    ['namespaces: "*" is no wildcard', rule({ namespaces: ['*'] }), res(), false],
    ['namespaces only: never a non-resource request', rule({ namespaces: [''] }), url('/healthz'), false],
  ])('%s', (_name, r, a, want) => {
    expect(matches(r, a)).toBe(want);
  });
});

describe('resources', () => {
  it.each<[string, Partial<GroupResources>[], Partial<RequestAttributes>, boolean]>([
    ['core group is ""', [{ group: '', resources: ['pods'] }], {}, true],
    [
      'group must equal: "" is not apps',
      [{ group: '', resources: ['deployments'] }],
      { apiGroup: 'apps', resource: 'deployments' },
      false,
    ],
    ['group must equal: apps is not core', [{ group: 'apps', resources: ['pods'] }], {}, false],
    [
      'no resources: every resource of the group',
      [{ group: 'apps' }],
      { apiGroup: 'apps', resource: 'deployments', subresource: 'scale' },
      true,
    ],
    ['no resources: resourceNames ignored', [{ group: '', resourceNames: ['other'] }], {}, true],
    ['plain resource: not its subresources', [{ resources: ['pods'] }], { subresource: 'log' }, false],
    ['resource/subresource', [{ resources: ['pods/log'] }], { subresource: 'log' }, true],
    ['resource/subresource: not the resource', [{ resources: ['pods/log'] }], {}, false],
    ['"*": every resource', [{ resources: ['*'] }], { resource: 'secrets' }, true],
    ['"*": and every subresource', [{ resources: ['*'] }], { subresource: 'exec' }, true],
    [
      '"*/sub": that subresource of any resource',
      [{ resources: ['*/status'] }],
      { resource: 'nodes', subresource: 'status' },
      true,
    ],
    ['"*/sub": not another subresource', [{ resources: ['*/status'] }], { subresource: 'log' }, false],
    ['"*/sub": not the resource itself', [{ resources: ['*/status'] }], { resource: 'status' }, false],
    ['"res/*": every subresource', [{ resources: ['pods/*'] }], { subresource: 'exec' }, true],
    ['"res/*": and the resource itself', [{ resources: ['pods/*'] }], {}, true],
    ['"res/*": not another resource', [{ resources: ['pods/*'] }], { resource: 'nodes', subresource: 'status' }, false],
    ['"*/*": not a real subresource', [{ resources: ['*/*'] }], { subresource: 'log' }, false],
    ['"*/*": the subresource named "*"', [{ resources: ['*/*'] }], { subresource: '*' }, true],
    ['"/*": the empty resource', [{ resources: ['/*'] }], { resource: '' }, true],
    ['"/*": not pods', [{ resources: ['/*'] }], {}, false],
    ['resourceNames: listed', [{ resources: ['pods'], resourceNames: ['web-1'] }], {}, true],
    ['resourceNames: not listed', [{ resources: ['pods'], resourceNames: ['web-2'] }], {}, false],
    [
      'resourceNames: a collection has no name',
      [{ resources: ['pods'], resourceNames: ['web-1'] }],
      { name: '' },
      false,
    ],
    ['resourceNames: apply with wildcards too', [{ resources: ['*'], resourceNames: ['web-2'] }], {}, false],
    [
      'any of several group-resources',
      [
        { group: 'apps', resources: ['*'] },
        { group: '', resources: ['pods'] },
      ],
      {},
      true,
    ],
  ])('%s', (_name, resources, a, want) => {
    expect(matches(rule({ resources }), res(a))).toBe(want);
  });

  it('a resource rule never matches a non-resource request', () => {
    expect(matches(rule({ resources: [{ resources: ['*'] }] }), url('/api'))).toBe(false);
  });

  it('namespaces and resources must both hold', () => {
    const r = rule({ namespaces: ['kube-system'], resources: [{ resources: ['pods'] }] });
    expect(matches(r, res({ namespace: 'kube-system' }))).toBe(true);
    expect(matches(r, res())).toBe(false);
  });

  it('group "*" matches every group (Kubernetes 1.36+), and only "*" without it', () => {
    const r = rule({ resources: [{ group: '*', resources: ['deployments'] }] });
    expect(matches(r, res({ apiGroup: 'apps', resource: 'deployments' }))).toBe(true);
    expect(matches(r, res({ apiGroup: 'apps', resource: 'deployments' }), { groupWildcard: false })).toBe(false);
    expect(matches(r, res({ apiGroup: '*', resource: 'deployments' }), { groupWildcard: false })).toBe(true);
  });
});

describe('non-resource URLs', () => {
  it.each<[string, string[], string, boolean]>([
    ['exact', ['/healthz'], '/healthz', true],
    ['exact: not a longer path', ['/api'], '/api/v1', false],
    ['exact: not a trailing slash', ['/api'], '/api/', false],
    ['"*": any path', ['*'], '/anything', true],
    ['"*": even the empty path', ['*'], '', true],
    ['trailing "*": the prefix itself', ['/healthz*'], '/healthz', true],
    ['trailing "*": below it', ['/healthz*'], '/healthz/etcd', true],
    ['trailing "*": a plain string prefix, not a path segment', ['/healthz*'], '/healthzz', true],
    ['trailing "*": not another path', ['/healthz*'], '/livez', false],
    ['"/*": every absolute path', ['/*'], '/', true],
    ['every trailing "*" is trimmed', ['/openapi**'], '/openapi/v2', true],
    ['any of several', ['/metrics', '/version'], '/version', true],
  ])('%s', (_name, specs, path, want) => {
    expect(matches(rule({ nonResourceURLs: specs }), url(path))).toBe(want);
  });

  it('a URL rule never matches a resource request', () => {
    expect(matches(rule({ nonResourceURLs: ['*'] }), res())).toBe(false);
  });

  it('with resources too (invalid, but the evaluator reads resources only)', () => {
    const r = rule({ nonResourceURLs: ['*'], resources: [{ resources: ['pods'] }] });
    expect(matches(r, url('/x'))).toBe(false);
    expect(matches(r, res())).toBe(true);
  });
});

describe('decisions', () => {
  const evaluator = new PolicyEvaluator(
    policy(
      [
        rule({ level: 'None', nonResourceURLs: ['/healthz*'] }),
        rule({
          level: 'RequestResponse',
          users: ['alice'],
          omitStages: ['ResponseStarted', 'RequestReceived'],
          omitManagedFields: false,
        }),
        rule({ level: 'Request', verbs: ['create'], omitManagedFields: true }),
        rule({ level: 'Metadata', verbs: ['get'] }),
      ],
      { omitStages: ['RequestReceived', 'Panic'], omitManagedFields: true },
    ),
  );

  it('the first matching rule wins, even when a later one matches too', () => {
    const d = evaluator.evaluate(res({ verb: 'create' }));
    expect(d.rule).toBe(1);
    expect(d.level).toBe('RequestResponse');
  });

  it('omitStages: the rule and the policy, as one set in lifecycle order', () => {
    expect(evaluator.evaluate(res()).omitStages).toEqual(['RequestReceived', 'ResponseStarted', 'Panic']);
    expect(evaluator.evaluate(res({ user: 'bob' })).omitStages).toEqual(['RequestReceived', 'Panic']);
  });

  it('omitManagedFields: the rule overrides the policy either way; unset, the policy holds', () => {
    expect(evaluator.evaluate(res()).omitManagedFields).toBe(false);
    expect(evaluator.evaluate(res({ user: 'bob', verb: 'create' })).omitManagedFields).toBe(true);
    expect(evaluator.evaluate(res({ user: 'bob' })).omitManagedFields).toBe(true);
    const off = new PolicyEvaluator(policy([rule({})], { omitManagedFields: false }));
    expect(off.evaluate(res()).omitManagedFields).toBe(false);
  });

  it('no match: level None, no rule, the policy-wide omitStages and omitManagedFields', () => {
    expect(evaluator.evaluate(res({ user: 'bob', verb: 'delete' }))).toEqual<Decision>({
      rule: null,
      level: 'None',
      omitStages: ['RequestReceived', 'Panic'],
      omitManagedFields: true,
    });
  });

  it('a matching None rule is rule N, not "no match"', () => {
    expect(evaluator.evaluate(url('/healthz'))).toMatchObject({ rule: 0, level: 'None' });
  });

  it('stageLogged: None writes nothing, omitted stages are dropped', () => {
    expect(stageLogged(evaluator.evaluate(res({ user: 'bob' })), 'ResponseComplete')).toBe(true);
    expect(stageLogged(evaluator.evaluate(res({ user: 'bob' })), 'RequestReceived')).toBe(false);
    expect(stageLogged(evaluator.evaluate(url('/healthz')), 'ResponseComplete')).toBe(false);
  });
});

describe('events to request attributes', () => {
  it('objectRef makes a resource request', () => {
    const a = eventAttributes({
      verb: 'patch',
      user: { username: 'kubernetes-admin', groups: ['system:masters', 7] },
      objectRef: { apiGroup: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'default', name: 'web' },
      requestURI: '/apis/apps/v1/namespaces/default/deployments/web/scale',
    });
    expect(a).toEqual<RequestAttributes>({
      user: 'kubernetes-admin',
      groups: ['system:masters'],
      verb: 'patch',
      resourceRequest: true,
      namespace: 'default',
      apiGroup: 'apps',
      resource: 'deployments',
      subresource: 'scale',
      name: 'web',
      path: '',
    });
  });

  it('no objectRef: a non-resource request whose path is requestURI without its query', () => {
    expect(eventAttributes({ verb: 'get', requestURI: '/readyz?verbose' })).toMatchObject({
      resourceRequest: false,
      path: '/readyz',
      user: '',
      groups: [],
    });
  });

  it.each([
    ['/healthz', '/healthz'],
    ['/readyz?exclude=etcd&verbose', '/readyz'],
    ['/x?', '/x'],
    ['/a%20b', '/a b'],
    ['/%C3%A9t%C3%A9', '/été'],
    ['/healthz%2Fetcd', '/healthz/etcd'],
    ['/%zz?q', '/%zz'], // Go refuses the escape; the raw path stands
    ['metrics', 'metrics'], // not a request URI to Go
    ['http://host/p?q', '/p'],
    ['a:b', ''], // an opaque URL
    ['', ''],
  ])('requestPath(%j) = %j', (uri, path) => {
    expect(requestPath(uri)).toBe(path);
  });
});
