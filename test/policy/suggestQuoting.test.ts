// The policy `policy suggest` writes names taken from events: every one must reach the API server's
// loader (sigs.k8s.io/yaml on go-yaml, YAML 1.1 and then some) and any YAML 1.2 reader as the same
// string, whatever it looks like. Judged by the `yaml` library reading the text as 1.1 and as 1.2.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dns1123SubdomainErrors } from '../../src/audit/model.js';
import type { Policy, PolicyRule } from '../../src/audit/policyEngine.js';
import { loadPolicy } from '../../src/audit/policyLoader.js';
import { readPolicySource } from '../../src/audit/presets.js';
import type { Suggestion } from '../../src/audit/suggest.js';
import { newTally } from '../../src/audit/verdict.js';
import { suggestionYaml } from '../../src/render/suggestedPolicy.js';
import { runCli } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';
import { EventLog, type Who } from './suggestInput.js';

/** Every spelling of `word` in upper and lower case. */
function cases(word: string): string[] {
  let out = [''];
  for (const ch of word) out = out.flatMap((p) => [...new Set([p + ch.toLowerCase(), p + ch.toUpperCase()])]);
  return out;
}

/**
 * Strings some YAML 1.1 or 1.2 reader (or go-yaml, which also takes Go's own number syntax) reads
 * as something else when written plain: booleans, nulls, numbers in every base, floats, infinities,
 * sexagesimals, dates and times, merge and value keys, and indicators.
 */
function hostileNames(): string[] {
  const words = ['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', 'inf', 'nan', 'infinity'].flatMap(cases);
  const numbers = [
    '0',
    '1',
    '17',
    '017',
    '0o17',
    '0O17',
    '0x1F',
    '0X1f',
    '0b101',
    '0B11',
    '1_000',
    '0x_1f',
    '0o_17',
    '1__0',
    '1e3',
    '1E3',
    '1e-3',
    '1.5',
    '.5',
    '1.',
    '0.1e+3',
    '685.230_15e+03',
    '0x1p-2',
  ];
  const signed = numbers.flatMap((n) => [n, `+${n}`, `-${n}`]);
  const floats = ['.inf', '.Inf', '.INF', '+.inf', '-.Inf', '.nan', '.NaN', '.NAN', '.iNf'];
  const sexagesimal = ['1:20', '1:20:30', '-1:20', '190:20:30.15', '1:2'];
  const dates = [
    '2001-12-14',
    '2002-1-2',
    '2001-12-14t21:59:43.10-05:00',
    '2001-12-14 21:59:43.10 -5',
    '2001-12-15T02:59:43.1Z',
    '2001-12-14T21:59:43',
  ];
  const special = [
    '~',
    '',
    '=',
    '<<',
    '-',
    '?',
    ':',
    '!',
    '!x',
    '&a',
    '*a',
    '*',
    '%x',
    '@x',
    '`x',
    '|',
    '>',
    "'",
    '"',
    '#',
    '# x',
    'a #b',
    'a: b',
    'a:',
    'a:b',
    '[a]',
    '{a}',
    'a,b',
    ' lead',
    'trail ',
    '-x',
    '- x',
    '? x',
    'a\\b',
    'été',
    '…',
  ];
  return [...new Set([...words, ...signed, ...floats, ...sexagesimal, ...dates, ...special])];
}

function rule(part: Partial<PolicyRule>): PolicyRule {
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
    ...part,
  };
}

/** A suggestion carrying `name` in every list a rule has. */
function rulesFor(name: string): PolicyRule[] {
  const group = dns1123SubdomainErrors(name).length === 0 ? name : '';
  const rules = [
    rule({
      users: [name],
      userGroups: [name],
      verbs: [name],
      namespaces: [name],
      resources: [{ group, resources: [name], resourceNames: [name] }],
    }),
  ];
  // A URL must start with "/" and may hold "*" only at its end.
  if (!name.slice(0, -1).includes('*')) rules.push(rule({ users: [name], nonResourceURLs: [`/${name}`] }));
  return rules;
}

const textOf = (r: PolicyRule) => JSON.stringify(r);

describe('policy suggest writes every name as a YAML string', () => {
  it('for YAML 1.1 and 1.2 readers alike: each hostile name, in every field of a rule', async () => {
    const names = hostileNames();
    expect(names.length).toBeGreaterThan(400);
    const base = await readPolicySource('preset:recommended', process.cwd());
    const basePolicy = loadPolicy(base.text, base.source);
    const added = names.flatMap(rulesFor);
    const policy: Policy = { ...basePolicy, rules: [...added, ...basePolicy.rules] };
    const s: Suggestion = {
      rules: added.map((r) => ({ rule: r, level: 'None', description: textOf(r), events: 1, dropped: 1, bytes: 1 })),
      policy,
      before: newTally(),
      after: newTally(),
      target: null,
      met: null,
      stop: 'nothing-left',
    };
    const text = suggestionYaml(s, {
      from: base.source,
      baseText: base.text,
      input: 'test',
      events: 1,
      protectedEvents: { write: 0, secret: 0, denied: 0, exec: 0 },
    });
    for (const version of ['1.1', '1.2'] as const) {
      const read = parse(text, { version }) as { rules: Record<string, unknown>[] };
      const wrong = added.flatMap((r, i) => {
        const got = read.rules[i]!;
        const want: Record<string, unknown> = { level: 'None' };
        for (const k of ['users', 'userGroups', 'verbs', 'namespaces', 'nonResourceURLs'] as const)
          if (r[k].length > 0) want[k] = r[k];
        if (r.resources.length > 0) want.resources = r.resources;
        return isDeepStrictEqual(got, want) ? [] : [`${JSON.stringify(want)} read as ${JSON.stringify(got)}`];
      });
      expect(wrong, `YAML ${version}`).toEqual([]);
    }
  });

  it('from an audit log with such names, through the built CLI', async () => {
    const dir = await testDir('audit-lab-suggest-quoting-');
    const who: Who = {
      username: 'system:serviceaccount:tools:reader',
      groups: ['system:serviceaccounts', 'system:authenticated'],
    };
    const resources = [
      '017',
      '0o17',
      '0x1F',
      '1e3',
      '1_000',
      'on',
      'NULL',
      '~',
      '=',
      '<<',
      '1:20',
      '.inf',
      '2001-12-14',
    ];
    const namespaces = ['0o17', 'yes', '2001-12-14', '1e3'];
    const log = new EventLog();
    for (let i = 0; i < 30; i++) {
      for (const [k, resource] of resources.entries()) {
        const apiGroup = ['', '0x1f', '1e3', '017', 'yes'][k % 5];
        for (const namespace of namespaces) {
          log.emit({
            who,
            verb: 'list',
            uri: `/apis/${apiGroup}/v1/namespaces/${namespace}/${resource}`,
            ref: { resource, apiGroup, namespace },
            resp: { kind: 'List', items: ['x'.repeat(300)] },
            stages: 'complete',
          });
        }
      }
      // Refused elsewhere: the rule must name the namespaces it may cut.
      log.emit({
        who,
        verb: 'list',
        uri: '/api/v1/namespaces/locked/017',
        ref: { resource: '017', namespace: 'locked' },
        code: 403,
        stages: 'complete',
      });
    }
    const file = join(dir, 'audit.log');
    await writeFile(file, `${log.lines.join('\n')}\n`);
    const r = await runCli(['policy', 'suggest', '--file', file, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { yaml: string; rules: unknown[] };
    expect(out.rules.length).toBeGreaterThan(0);
    const read11 = parse(out.yaml, { version: '1.1' }) as {
      rules: { resources?: { group: string; resources: string[] }[]; namespaces?: string[] }[];
    };
    const read12 = parse(out.yaml, { version: '1.2' }) as unknown;
    expect(read12).toEqual(read11);
    const added = read11.rules.slice(0, out.rules.length);
    const written = new Set(
      added.flatMap((x) => [...(x.resources ?? []).flatMap((g) => [g.group, ...g.resources]), ...(x.namespaces ?? [])]),
    );
    // The names made it into the rules, as the strings they are.
    for (const name of ['017', '0o17', '1e3', 'on', '2001-12-14', 'yes', '0x1f'])
      expect(written.has(name), `${name} in ${out.yaml}`).toBe(true);
  });
});
