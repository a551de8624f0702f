// A request without a user (its authentication failed: a 401) as upstream's evaluator sees it: the
// audit filter hands it attributes with a nil user, and checker.go's ruleMatches then fails every
// rule with users or userGroups, `users: [""]` included. The API server writes that nil user as
// `user: {}` in the event.
import { describe, expect, it } from 'vitest';
import { eventAttributes, PolicyEvaluator, type PolicyRule } from '../../src/audit/policyEngine.js';

function rule(r: Partial<PolicyRule>): PolicyRule {
  return {
    level: 'Metadata',
    users: [],
    userGroups: [],
    verbs: [],
    resources: [],
    namespaces: [],
    nonResourceURLs: [],
    omitStages: [],
    omitManagedFields: null,
    ...r,
  };
}

const matches = (r: PolicyRule, event: Record<string, unknown>) =>
  new PolicyEvaluator({ rules: [r], omitStages: [], omitManagedFields: false }).evaluate(eventAttributes(event))
    .rule === 0;

const unauthenticated = {
  verb: 'get',
  requestURI: '/api/v1/namespaces/default/configmaps',
  objectRef: { resource: 'configmaps', namespace: 'default' },
  user: {},
  responseStatus: { code: 401 },
};
const noUserObject = { verb: 'get', requestURI: '/metrics' };
const emptyName = { verb: 'get', requestURI: '/metrics', user: { username: '', groups: ['system:authenticated'] } };

describe('a request without a user', () => {
  it('is read from `user: {}` or no user at all', () => {
    expect(eventAttributes(unauthenticated)).toMatchObject({ user: '', noUser: true, groups: [] });
    expect(eventAttributes(noUserObject)).toMatchObject({ user: '', noUser: true });
    expect(eventAttributes(emptyName).noUser).toBeUndefined();
  });

  it.each([
    ['users: [""]', rule({ users: [''] })],
    ['users: [system:anonymous]', rule({ users: ['system:anonymous'] })],
    ['userGroups: [""]', rule({ userGroups: [''] })],
    ['userGroups: [system:unauthenticated]', rule({ userGroups: ['system:unauthenticated'] })],
  ])('is matched by no rule naming users or groups: %s', (_name, r) => {
    expect(matches(r, unauthenticated)).toBe(false);
    expect(matches(r, noUserObject)).toBe(false);
  });

  it('is matched by rules that name no user', () => {
    expect(
      matches(
        rule({ verbs: ['get'], resources: [{ group: '', resources: ['configmaps'], resourceNames: [] }] }),
        unauthenticated,
      ),
    ).toBe(true);
    expect(matches(rule({ nonResourceURLs: ['/metrics'] }), noUserObject)).toBe(true);
  });

  it('a user whose name is "" (upstream: a user, named "") is still matched by users: [""]', () => {
    expect(matches(rule({ users: [''] }), emptyName)).toBe(true);
    expect(matches(rule({ userGroups: ['system:authenticated'] }), emptyName)).toBe(true);
  });
});
