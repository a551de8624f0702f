import { describe, expect, it } from 'vitest';
import {
  aggregateMessage,
  decodePolicy,
  goJSON,
  goQuote,
  loadPolicy,
  PolicyLoadError,
  validatePolicy,
} from '../../src/audit/policyLoader.js';

const head = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

function refusal(text: string, opts = {}): PolicyLoadError {
  try {
    loadPolicy(text, 'p.yaml', opts);
  } catch (err) {
    if (err instanceof PolicyLoadError) return err;
    throw err;
  }
  throw new Error('the policy was accepted');
}

describe('decoding', () => {
  it('reads every field', () => {
    const p = loadPolicy(
      `${head}omitStages: [RequestReceived]
omitManagedFields: true
rules:
  - level: RequestResponse
    users: [alice]
    userGroups: [dev]
    verbs: [create]
    resources: [{group: rbac.authorization.k8s.io, resources: [roles], resourceNames: [reader]}]
    namespaces: [dev]
    omitStages: [Panic]
    omitManagedFields: false
  - level: None
    nonResourceURLs: [/healthz*]
`,
      'p.yaml',
    );
    expect(p).toEqual({
      omitStages: ['RequestReceived'],
      omitManagedFields: true,
      rules: [
        {
          level: 'RequestResponse',
          users: ['alice'],
          userGroups: ['dev'],
          verbs: ['create'],
          resources: [{ group: 'rbac.authorization.k8s.io', resources: ['roles'], resourceNames: ['reader'] }],
          namespaces: ['dev'],
          nonResourceURLs: [],
          omitStages: ['Panic'],
          omitManagedFields: false,
        },
        {
          level: 'None',
          users: [],
          userGroups: [],
          verbs: [],
          resources: [],
          namespaces: [],
          nonResourceURLs: ['/healthz*'],
          omitStages: [],
          omitManagedFields: null,
        },
      ],
    });
  });

  it('null means empty, as JSON null does in Go', () => {
    const p = loadPolicy(
      `${head}omitStages: ~\nrules:\n  - level: Metadata\n    users: null\n    omitManagedFields: ~\n`,
      'p.yaml',
    );
    expect(p.omitStages).toEqual([]);
    expect(p.rules[0]).toMatchObject({ users: [], omitManagedFields: null });
  });

  it('YAML 1.1 booleans, as sigs.k8s.io/yaml reads them', () => {
    expect(
      loadPolicy(`${head}omitManagedFields: yes\nrules:\n  - level: Metadata\n    omitManagedFields: off\n`, 'p.yaml'),
    ).toMatchObject({
      omitManagedFields: true,
      rules: [{ omitManagedFields: false }],
    });
  });

  it('kind may be left out (the decoder takes it from the target type), JSON is YAML, anchors resolve', () => {
    const p = loadPolicy('{"apiVersion":"audit.k8s.io/v1","rules":[{"level":"Metadata","verbs":["get"]}]}', 'p.json');
    expect(p.rules[0]!.verbs).toEqual(['get']);
    const q = loadPolicy(
      `${head}rules:\n  - &r\n    level: None\n    verbs: [watch]\n  - <<: *r\n    users: [alice]\n`,
      'p.yaml',
    );
    expect(q.rules[1]).toMatchObject({ level: 'None', verbs: ['watch'], users: ['alice'] });
  });

  it.each<[string, string, string]>([
    [
      'an unknown rule field, with its line and column',
      `${head}rules:\n  - level: Metadata\n    verb: [get]\n`,
      'p.yaml:5:5: unknown field "rules[0].verb"',
    ],
    [
      'an unknown top-level field',
      `${head}omitStage: [RequestReceived]\nrules:\n  - level: Metadata\n`,
      'p.yaml:3:1: unknown field "omitStage"',
    ],
    [
      'an unknown group-resources field',
      `${head}rules:\n  - level: Metadata\n    resources:\n      - group: ""\n        resource: [pods]\n`,
      'p.yaml:7:9: unknown field "rules[0].resources[0].resource"',
    ],
    [
      'an unknown metadata field',
      `${head}metadata:\n  nmae: x\nrules:\n  - level: Metadata\n`,
      'p.yaml:4:3: unknown field "metadata.nmae"',
    ],
    [
      'a boolean where a string goes',
      `${head}rules:\n  - level: Metadata\n    verbs: [get, on]\n`,
      'p.yaml:5:18: rules[0].verbs[1]: expected a string, got a boolean (true); quote it',
    ],
    [
      'a number where a string goes',
      `${head}rules:\n  - level: Metadata\n    resources: [{resources: [pods], resourceNames: [123]}]\n`,
      'p.yaml:5:53: rules[0].resources[0].resourceNames[0]: expected a string, got a number (123); quote it',
    ],
    [
      'a string where a list goes',
      `${head}rules:\n  - level: Metadata\n    users: alice\n`,
      'p.yaml:5:12: rules[0].users: expected a list, got a string',
    ],
    [
      'a string where a boolean goes',
      `${head}rules:\n  - level: Metadata\n    omitManagedFields: "true"\n`,
      'p.yaml:5:24: rules[0].omitManagedFields: expected true or false, got a string',
    ],
    ['rules as a map', `${head}rules:\n  level: Metadata\n`, 'p.yaml:4:3: rules: expected a list, got a map'],
    ['a key set twice', `${head}rules:\n  - level: Metadata\n    level: None\n`, 'p.yaml:5:5: Map keys must be unique'],
    [
      'a merged key set again',
      `${head}rules:\n  - &r\n    level: None\n  - <<: *r\n    level: Metadata\n`,
      'p.yaml:7:5: key "level" already set in map',
    ],
    [
      'another apiVersion',
      'apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: []\n',
      'p.yaml:1:13: apiVersion "audit.k8s.io/v1beta1" is not served: use audit.k8s.io/v1',
    ],
    ['no apiVersion', 'kind: Policy\nrules: []\n', 'p.yaml: apiVersion is missing: set apiVersion: audit.k8s.io/v1'],
    [
      'another kind',
      'apiVersion: audit.k8s.io/v1\nkind: AuditPolicy\nrules: []\n',
      'p.yaml:2:7: kind "AuditPolicy" is not Policy',
    ],
    ['not a map', '- level: Metadata\n', 'p.yaml:1:1: the policy: expected a map, got a list'],
    ['an empty file', '# nothing\n', 'p.yaml: empty file: expected an audit.k8s.io/v1 Policy'],
    [
      'two documents',
      `${head}rules: [{level: None}]\n---\n${head}rules: [{level: Metadata}]\n`,
      'p.yaml: 2 YAML documents',
    ],
    ['a YAML syntax error', `${head}rules:\n  - level: [Metadata\n`, 'p.yaml:5:1: Flow sequence in block collection'],
  ])('refuses %s', (_name, text, message) => {
    const err = refusal(text);
    expect(err.kind).toBe('decode');
    expect(err.message).toContain(message);
  });

  it('lists every problem, each on its own line', () => {
    const err = refusal(`${head}rules:\n  - level: Metadata\n    verb: [get]\n    users: alice\n`);
    expect(err.message).toBe(
      'invalid policy:\n  p.yaml:5:5: unknown field "rules[0].verb"\n  p.yaml:6:12: rules[0].users: expected a list, got a string',
    );
  });

  it('decodePolicy does not validate', () => {
    expect(decodePolicy(`${head}rules:\n  - level: Sometimes\n`, 'p.yaml').rules[0]!.level).toBe('Sometimes');
  });
});

// Messages below are upstream's, as test/conformance/policydiff's Go program printed them from
// k8s.io/apiserver v0.37.2 validation.ValidatePolicy(...).ToAggregate().Error().
const LEVELS_MSG = 'supported values: "None", "Metadata", "Request", "RequestResponse"';
const STAGES_MSG = 'allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic';
const DNS_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

describe('validation, with upstream messages', () => {
  it.each<[string, string, string]>([
    ['level required', 'rules:\n  - level: ""\n', 'rules[0].level: Required value'],
    ['a null rule has no level', 'rules:\n  - level: Metadata\n  -\n', 'rules[1].level: Required value'],
    [
      'level unsupported (printed as JSON, HTML-escaped)',
      'rules:\n  - level: "<b>&"\n',
      `rules[0].level: Unsupported value: "\\u003cb\\u003e\\u0026": ${LEVELS_MSG}`,
    ],
    [
      'several errors, in brackets, in upstream order',
      'rules:\n  - level: ""\n  - level: metadata\n',
      `[rules[0].level: Required value, rules[1].level: Unsupported value: "metadata": ${LEVELS_MSG}]`,
    ],
    [
      'URL without a leading slash',
      'rules:\n  - level: None\n    nonResourceURLs: ["api"]\n',
      `rules[0].nonResourceURLs[0]: Invalid value: "api": non-resource URL rules must begin with a '/' character`,
    ],
    [
      'URL wildcard not last',
      'rules:\n  - level: None\n    nonResourceURLs: ["*", "/a*b"]\n',
      `rules[0].nonResourceURLs[1]: Invalid value: "/a*b": non-resource URL wildcards '*' must be the final character of the rule`,
    ],
    [
      'URL "**": both messages',
      'rules:\n  - level: None\n    nonResourceURLs: ["**"]\n',
      `[rules[0].nonResourceURLs[0]: Invalid value: "**": non-resource URL rules must begin with a '/' character, rules[0].nonResourceURLs[0]: Invalid value: "**": non-resource URL wildcards '*' must be the final character of the rule]`,
    ],
    [
      'URLs with namespaces',
      'rules:\n  - level: None\n    namespaces: [""]\n    nonResourceURLs: ["/healthz", "<x>"]\n',
      `[rules[0].nonResourceURLs[1]: Invalid value: "<x>": non-resource URL rules must begin with a '/' character, rules[0].nonResourceURLs: Invalid value: ["/healthz","\\u003cx\\u003e"]: rules cannot apply to both regular resources and non-resource URLs]`,
    ],
    [
      'group not a DNS subdomain (no index in the path)',
      'rules:\n  - level: None\n    resources: [{group: Apps}]\n',
      `rules[0].resources.group: Invalid value: "Apps": ${DNS_MSG}`,
    ],
    [
      'the same message twice is printed once',
      'rules:\n  - level: None\n    resources: [{group: Apps, resources: [a]}, {group: Apps, resources: [b]}]\n',
      `rules[0].resources.group: Invalid value: "Apps": ${DNS_MSG}`,
    ],
    [
      'group too long',
      `rules:\n  - level: None\n    resources: [{group: ${'a'.repeat(254)}}]\n`,
      `rules[0].resources.group: Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters`,
    ],
    [
      'resourceNames without resources',
      'rules:\n  - level: None\n    resources: [{resourceNames: [a, b]}]\n',
      'rules[0].resources.resourceNames: Invalid value: ["a","b"]: using resourceNames requires at least one resource',
    ],
    [
      'omitStages, policy first, then rules (strings %q-quoted)',
      'omitStages: [ResponseCompleted, "tab\\there"]\nrules:\n  - level: Metadata\n    omitStages: [Done]\n',
      `[omitStages[0]: Invalid value: "ResponseCompleted": ${STAGES_MSG}, omitStages[1]: Invalid value: "tab\\there": ${STAGES_MSG}, rules[0].omitStages[0]: Invalid value: "Done": ${STAGES_MSG}]`,
    ],
  ])('%s', (_name, body, message) => {
    const err = refusal(head + body);
    expect(err.kind).toBe('validate');
    expect(err.detail).toBe(message);
    expect(err.message).toBe(`p.yaml: ${message}`);
  });

  it('group "*" is valid since Kubernetes 1.36, a DNS error before', () => {
    const text = `${head}rules:\n  - level: None\n    resources: [{group: "*"}]\n`;
    expect(loadPolicy(text, 'p.yaml').rules).toHaveLength(1);
    expect(refusal(text, { groupWildcard: false }).detail).toBe(
      `rules[0].resources.group: Invalid value: "*": ${DNS_MSG}`,
    );
  });

  it('no rules: refused after validation, as the API server does at start', () => {
    for (const text of [`${head}rules: []\n`, head]) {
      const err = refusal(text);
      expect(err.kind).toBe('empty');
      expect(err.message).toBe('p.yaml: loaded illegal policy with 0 rules');
    }
    expect(refusal(`${head}omitStages: [Never]\nrules: []\n`).kind).toBe('validate');
  });

  it('a valid policy has no errors', () => {
    expect(validatePolicy({ rules: [], omitStages: ['Panic'], omitManagedFields: false })).toEqual([]);
    expect(
      aggregateMessage([
        { field: 'a', body: 'x' },
        { field: 'a', body: 'x' },
      ]),
    ).toBe('a: x');
  });
});

describe('Go formatting', () => {
  it.each([
    ['plain', '"plain"'],
    ['say "hi"\\', '"say \\"hi\\"\\\\"'],
    ['tab\there\n', '"tab\\there\\n"'],
    ['\u0001\u007f', '"\\x01\\x7f"'],
    ['été', '"été"'],
    ['\u00a0', '"\\u00a0"'],
  ])('goQuote(%j) = %s', (s, want) => {
    expect(goQuote(s)).toBe(want);
  });

  it('goJSON escapes <, > and & like encoding/json', () => {
    expect(goJSON(['<a&b>', 'é'])).toBe('["\\u003ca\\u0026b\\u003e","é"]');
  });
});
