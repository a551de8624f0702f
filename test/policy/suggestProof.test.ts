// The check every suggested rule passes: no protected request, in the input or not, gets a lower
// level from it than from the base policy. Rules as a suggestion could carry them, against the
// presets and against bases whose own values (namespaces, groups, URL prefixes) make the difference.
import { describe, expect, it } from 'vitest';
import { type Level, levelRank } from '../../src/audit/model.js';
import { type Policy, PolicyEvaluator, type PolicyRule } from '../../src/audit/policyEngine.js';
import { loadPolicy } from '../../src/audit/policyLoader.js';
import { readPolicySource } from '../../src/audit/presets.js';
import { ProtectedProof } from '../../src/audit/suggestProof.js';
import { protectedReason } from '../../src/audit/suggestScope.js';

function rule(r: Partial<PolicyRule>): PolicyRule {
  return {
    level: 'None',
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
const core = (...resources: string[]) => [{ group: '', resources, resourceNames: [] }];
const policy = (...rules: PolicyRule[]): Policy => ({ rules, omitStages: [], omitManagedFields: false });
const preset = async (name: string) => {
  const { text, source } = await readPolicySource(`preset:${name}`, process.cwd());
  return loadPolicy(text, source);
};
const reader = 'system:serviceaccount:tools:reader';

/** The proof's verdict, and that a counterexample really is one: protected, matched by the rule, lowered. */
function check(r: PolicyRule, base: Policy) {
  const result = new ProtectedProof(base).check(r);
  if (!result.proved && result.counterexample !== null) {
    const w = result.counterexample;
    expect(protectedReason(w, undefined)).not.toBeNull();
    expect(new PolicyEvaluator(policy(r)).evaluate(w).rule).toBe(0);
    expect(levelRank(new PolicyEvaluator(base).evaluate(w).level)).toBeGreaterThan(levelRank(r.level as Level));
  }
  return result;
}

describe('suggestProof', () => {
  it.each([
    ['resource "*" (the report)', rule({ users: [reader], verbs: ['get', 'list'], resources: core('*', 'pods/*') })],
    ['"pods/*": pods/exec', rule({ users: [reader], verbs: ['get'], resources: core('pods/*') })],
    ['"*/x": secrets/x', rule({ users: [reader], verbs: ['get'], resources: core('*/x') })],
    ['"configmaps/*": configmaps/proxy', rule({ users: [reader], verbs: ['get'], resources: core('configmaps/*') })],
    [
      'group "*": secrets',
      rule({ users: [reader], verbs: ['get'], resources: [{ group: '*', resources: ['secrets'], resourceNames: [] }] }),
    ],
    ['no users: the 401s', rule({ verbs: ['get'], resources: core('configmaps') })],
    ['nonResourceURLs "*", no users: the 401s', rule({ verbs: ['get'], nonResourceURLs: ['*'] })],
    ['nonResourceURLs "/x*", no users: the 401s', rule({ verbs: ['get'], nonResourceURLs: ['/x*'] })],
    ['no verbs: writes', rule({ users: [reader], resources: core('configmaps') })],
  ])('finds a lowered protected request: %s', async (_name, r) => {
    for (const base of [await preset('recommended'), await preset('request-response')]) {
      const result = check(r, base);
      expect(result.proved).toBe(false);
      if (!result.proved) expect(result.counterexample).not.toBeNull();
    }
  });

  it.each([
    [
      "a user's reads of named resources",
      rule({
        users: [reader],
        verbs: ['get', 'list', 'watch'],
        resources: [
          ...core('configmaps', 'pods', 'pods/log'),
          { group: 'apps', resources: ['deployments'], resourceNames: [] },
        ],
      }),
    ],
    [
      'namespace "*" is exact',
      rule({ users: [reader], verbs: ['list'], resources: core('configmaps'), namespaces: ['*'] }),
    ],
    [
      "a group's reads of a URL family",
      rule({ userGroups: ['system:authenticated'], verbs: ['get'], nonResourceURLs: ['/metrics*'] }),
    ],
    [
      'Metadata where the base logs Metadata',
      rule({ level: 'Metadata', verbs: ['create'], resources: core('configmaps') }),
    ],
  ])('proves a rule that lowers nothing protected: %s', async (_name, r) => {
    expect(check(r, await preset('recommended')).proved).toBe(true);
  });

  it("takes the base policy's own values: a namespace it logs more in", () => {
    const base = policy(
      rule({ level: 'RequestResponse', namespaces: ['kube-system'], resources: core('configmaps') }),
      rule({ level: 'Metadata' }),
    );
    const result = check(rule({ level: 'Metadata', verbs: ['get'], resources: core('configmaps') }), base);
    expect(result).toMatchObject({ proved: false, counterexample: { noUser: true, namespace: 'kube-system' } });
  });

  it("takes the base policy's own values: a user group it logs more for", () => {
    const base = policy(
      rule({ level: 'RequestResponse', userGroups: ['ops', 'admins'], verbs: ['create'] }),
      rule({ level: 'Metadata' }),
    );
    const result = check(
      rule({ level: 'Metadata', users: [reader], verbs: ['create', 'get'], resources: core('configmaps') }),
      base,
    );
    expect(result.proved).toBe(false);
    if (!result.proved) expect(result.counterexample).toMatchObject({ user: reader, verb: 'create' });
    if (!result.proved) expect(result.counterexample!.groups.some((g) => g === 'ops' || g === 'admins')).toBe(true);
    // Not a member of either: nothing to lower.
    expect(
      check(
        rule({
          level: 'Metadata',
          users: [reader],
          userGroups: ['tools'],
          verbs: ['get'],
          resources: core('configmaps'),
        }),
        base,
      ).proved,
    ).toBe(true);
  });

  it("takes the base policy's own values: a longer URL prefix it logs more under", () => {
    const base = policy(
      rule({ level: 'RequestResponse', nonResourceURLs: ['/metrics/secret*'] }),
      rule({ level: 'Metadata' }),
    );
    const result = check(
      rule({ level: 'Metadata', users: [reader], verbs: ['post'], nonResourceURLs: ['/metrics*'] }),
      base,
    );
    expect(result.proved).toBe(false);
    if (!result.proved) expect(result.counterexample!.path.startsWith('/metrics/secret')).toBe(true);
    expect(
      check(rule({ level: 'Metadata', users: [reader], verbs: ['post'], nonResourceURLs: ['/metrics'] }), base).proved,
    ).toBe(true);
  });

  it('proves nothing it cannot enumerate: a rule is then not proved, without a counterexample', () => {
    const many = (stem: string) => Array.from({ length: 600 }, (_, i) => `${stem}-${i}`);
    const base = policy(
      rule({
        level: 'Metadata',
        namespaces: many('ns'),
        resources: [{ group: '', resources: ['configmaps'], resourceNames: many('cm') }],
      }),
    );
    expect(check(rule({ users: [reader], verbs: ['get'], resources: core('configmaps') }), base)).toEqual({
      proved: false,
      counterexample: null,
    });
  });
});
