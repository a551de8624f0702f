import { describe, expect, it } from 'vitest';
import {
  asStoredEvent,
  buildFilter,
  eventTime,
  type FilterFlags,
  latencyMicros,
  parseCodeFlag,
  parseDurationMicros,
  parseResourceFlag,
  parseSince,
  parseStageFlag,
  resourceFilter,
  resourceOf,
  type StoredEvent,
  timestampMicros,
} from '../../src/audit/filter.js';
import { UserError } from '../../src/errors.js';

const NONE: FilterFlags = { verb: [], user: [], namespace: [], resource: [], stage: [], code: [] };

function ev(
  over: Partial<StoredEvent> & { group?: string; resource?: string; sub?: string; ns?: string; code?: number } = {},
): StoredEvent {
  const { group, resource, sub, ns, code, ...rest } = over;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: 'x',
    stage: 'ResponseComplete',
    verb: 'get',
    user: { username: 'kubernetes-admin' },
    ...(resource !== undefined
      ? {
          objectRef: {
            resource,
            ...(group ? { apiGroup: group } : {}),
            ...(sub ? { subresource: sub } : {}),
            ...(ns ? { namespace: ns } : {}),
          },
        }
      : {}),
    ...(code !== undefined ? { responseStatus: { metadata: {}, code } } : {}),
    ...rest,
  };
}

describe('parseResourceFlag', () => {
  it.each([
    ['pods', { group: '*', resource: 'pods' }],
    ['pods/log', { group: '*', resource: 'pods/log' }],
    ['apps/deployments', { group: 'apps', resource: 'deployments' }],
    ['apps/deployments/scale', { group: 'apps', resource: 'deployments/scale' }],
    ['batch/jobs', { group: 'batch', resource: 'jobs' }],
    ['coordination.k8s.io/leases', { group: 'coordination.k8s.io', resource: 'leases' }],
    ['rbac.authorization.k8s.io/clusterroles', { group: 'rbac.authorization.k8s.io', resource: 'clusterroles' }],
    ['/pods', { group: '', resource: 'pods' }],
    ['/pods/log', { group: '', resource: 'pods/log' }],
    ['core/pods', { group: '', resource: 'pods' }],
    ['pods/*', { group: '*', resource: 'pods/*' }],
    ['*/scale', { group: '*', resource: '*/scale' }],
    ['apps/*', { group: 'apps', resource: '*' }],
    ['*', { group: '*', resource: '*' }],
    // kubectl's names: singular, short, any case, with a group or a subresource
    ['deployments', { group: '*', resource: 'deployments' }],
    ['deployment', { group: '*', resource: 'deployments' }],
    ['deploy', { group: '*', resource: 'deployments' }],
    ['apps/deploy', { group: 'apps', resource: 'deployments' }],
    ['deploy/scale', { group: '*', resource: 'deployments/scale' }],
    ['po/log', { group: '*', resource: 'pods/log' }],
    ['core/po', { group: '', resource: 'pods' }],
    ['Pods', { group: '*', resource: 'pods' }],
    // an unknown word is a plural as it stands (a CRD's)
    ['widgets', { group: '*', resource: 'widgets' }],
    ['example.com/widgets', { group: 'example.com', resource: 'widgets' }],
  ])('%s', (flag, want) => {
    expect(parseResourceFlag(flag)).toEqual(want);
  });

  // kubectl api-resources: NAME, singular (discovery) and SHORTNAMES, all to the plural.
  it.each([
    ['po', 'pods'],
    ['pod', 'pods'],
    ['svc', 'services'],
    ['service', 'services'],
    ['cm', 'configmaps'],
    ['ns', 'namespaces'],
    ['sa', 'serviceaccounts'],
    ['no', 'nodes'],
    ['pv', 'persistentvolumes'],
    ['pvc', 'persistentvolumeclaims'],
    ['rs', 'replicasets'],
    ['ds', 'daemonsets'],
    ['sts', 'statefulsets'],
    ['cj', 'cronjobs'],
    ['job', 'jobs'],
    ['ing', 'ingresses'],
    ['ingress', 'ingresses'],
    ['ep', 'endpoints'],
    ['ev', 'events'],
    ['crd', 'customresourcedefinitions'],
    ['crds', 'customresourcedefinitions'],
    ['netpol', 'networkpolicies'],
    ['networkpolicy', 'networkpolicies'],
    ['pdb', 'poddisruptionbudgets'],
    ['hpa', 'horizontalpodautoscalers'],
    ['sc', 'storageclasses'],
    ['csr', 'certificatesigningrequests'],
    ['limits', 'limitranges'],
    ['quota', 'resourcequotas'],
    ['rc', 'replicationcontrollers'],
    ['cs', 'componentstatuses'],
    ['secret', 'secrets'],
    ['secrets', 'secrets'],
    ['pc', 'priorityclasses'],
    ['lease', 'leases'],
    ['clusterrole', 'clusterroles'],
    ['rolebinding', 'rolebindings'],
  ])('%s -> %s', (flag, plural) => {
    expect(parseResourceFlag(flag).resource).toBe(plural);
  });

  it.each(['a/b/c/d', 'pods/', '', 'apps//scale'])('rejects %j naming the flag', (flag) => {
    expect(() => parseResourceFlag(flag)).toThrow(UserError);
    expect(() => parseResourceFlag(flag)).toThrow(/--resource/);
  });
});

describe('resourceFilter (audit Policy semantics)', () => {
  const pods = ev({ resource: 'pods', ns: 'default' });
  const podLog = ev({ resource: 'pods', sub: 'log', ns: 'default' });
  const deploy = ev({ group: 'apps', resource: 'deployments' });
  const scale = ev({ group: 'apps', resource: 'deployments', sub: 'scale' });
  const rsScale = ev({ group: 'apps', resource: 'replicasets', sub: 'scale' });
  const coreEvent = ev({ resource: 'events', ns: 'default' });
  const newEvent = ev({ group: 'events.k8s.io', resource: 'events', ns: 'default' });
  const widget = ev({ group: 'example.com', resource: 'widgets' });
  const nonResource = ev({ requestURI: '/healthz' });
  it.each([
    ['pods', pods, true],
    ['pods', podLog, false],
    ['pods/log', podLog, true],
    ['pods/log', pods, false],
    ['pods/*', pods, true],
    ['pods/*', podLog, true],
    ['pods', deploy, false],
    ['deployments', deploy, true], // a bare name matches in any group
    ['deployment', deploy, true],
    ['deploy', deploy, true],
    ['deploy', scale, false],
    ['deploy/scale', scale, true],
    ['deploy/*', scale, true],
    ['po', pods, true],
    ['pod', podLog, false],
    ['core/deployments', deploy, false], // a group given is kept
    ['/pods', pods, true],
    ['apps/deployments', deploy, true],
    ['apps/deployments', scale, false],
    ['apps/deployments/scale', scale, true],
    ['apps/*/scale', scale, true],
    ['apps/*/scale', rsScale, true],
    ['apps/*/scale', deploy, false],
    ['apps/*', rsScale, true],
    ['*/scale', rsScale, true],
    ['*', pods, true],
    ['*', deploy, true],
    ['*', podLog, true], // as in a policy: "*" takes subresources too
    ['ev', coreEvent, true],
    ['ev', newEvent, true],
    ['events.k8s.io/events', coreEvent, false],
    ['widgets', widget, true],
    ['widget', widget, false], // not a built-in: no singular known
    ['pods', nonResource, false],
    ['*', nonResource, false],
  ] as const)('%s ~ %o -> %s', (flag, e, want) => {
    expect(resourceFilter([parseResourceFlag(flag)])(e)).toBe(want);
  });
});

describe('parseCodeFlag', () => {
  it.each([
    ['403', { code: 403 }],
    ['200', { code: 200 }],
    ['4xx', { class: 4 }],
    ['5XX', { class: 5 }],
  ])('%s', (flag, want) => expect(parseCodeFlag(flag)).toEqual(want));
  it.each(['4', '40', '4000', 'forbidden', '6xx', 'xx', '4x'])('rejects %j naming the flag', (flag) => {
    expect(() => parseCodeFlag(flag)).toThrow(/--code/);
  });
});

describe('parseStageFlag', () => {
  it('accepts a stage in any case and returns its proper name', () => {
    expect(parseStageFlag('ResponseComplete')).toBe('ResponseComplete');
    expect(parseStageFlag('requestreceived')).toBe('RequestReceived');
  });
  it('rejects anything else, listing the stages', () => {
    expect(() => parseStageFlag('Done')).toThrow(/--stage "Done".*/);
    try {
      parseStageFlag('Done');
    } catch (err) {
      expect((err as UserError).hint).toContain('ResponseStarted');
    }
  });
});

describe('buildFilter', () => {
  const a = ev({ verb: 'list', resource: 'pods', ns: 'default', code: 200 });
  const b = ev({ verb: 'delete', resource: 'pods', ns: 'kube-system', code: 403, user: { username: 'alice' } });
  const c = ev({
    verb: 'create',
    group: 'apps',
    resource: 'deployments',
    ns: 'default',
    code: 201,
    stage: 'RequestReceived',
    responseStatus: undefined,
  });
  const d = ev({ verb: 'get', requestURI: '/healthz', code: 200, user: { username: 'system:anonymous' } });
  const e = ev({ verb: 'get', resource: 'namespaces', name: undefined, code: 404 });
  const all = { a, b, c, d, e };
  const pick = (flags: Partial<FilterFlags>) => {
    const f = buildFilter({ ...NONE, ...flags });
    return Object.entries(all)
      .filter(([, x]) => f(x))
      .map(([k]) => k)
      .join('');
  };
  it.each([
    [{}, 'abcde'],
    [{ verb: ['get'] }, 'de'],
    [{ verb: ['GET'] }, 'de'],
    [{ verb: ['get', 'delete'] }, 'bde'],
    [{ user: ['alice'] }, 'b'],
    [{ user: ['alice', 'system:anonymous'] }, 'bd'],
    [{ namespace: ['default'] }, 'ac'],
    [{ namespace: [''] }, 'de'],
    [{ resource: ['pods'] }, 'ab'],
    [{ resource: ['apps/deployments', 'namespaces'] }, 'ce'],
    [{ stage: ['RequestReceived'] }, 'c'],
    [{ stage: ['ResponseComplete'] }, 'abde'],
    [{ code: ['4xx'] }, 'be'],
    [{ code: ['403'] }, 'b'],
    [{ code: ['2xx'] }, 'ad'], // c is at RequestReceived: no response yet, no code
    [{ code: ['403', '404'] }, 'be'],
    // Flags AND-ed, values OR-ed.
    [{ verb: ['list', 'delete'], namespace: ['default'] }, 'a'],
    [{ resource: ['pods'], code: ['4xx'] }, 'b'],
    [{ verb: ['get'], code: ['2xx'], user: ['system:anonymous'] }, 'd'],
    [{ verb: ['watch'] }, ''],
  ] as [Partial<FilterFlags>, string][])('%o -> %s', (flags, want) => {
    expect(pick(flags)).toBe(want);
  });

  it('never throws on events with missing or odd fields', () => {
    const f = buildFilter({
      ...NONE,
      verb: ['get'],
      user: ['x'],
      namespace: ['n'],
      resource: ['pods'],
      stage: ['Panic'],
      code: ['5xx'],
    });
    for (const odd of [{}, { verb: 3, user: {}, objectRef: {}, responseStatus: { code: 'x' } }] as StoredEvent[])
      expect(f(odd)).toBe(false);
  });

  it('checks every flag value up front', () => {
    expect(() => buildFilter({ ...NONE, code: ['200', 'oops'] })).toThrow(/--code "oops"/);
    expect(() => buildFilter({ ...NONE, stage: ['Nope'] })).toThrow(/--stage "Nope"/);
    expect(() => buildFilter({ ...NONE, resource: ['a/b/c/d'] })).toThrow(/--resource "a\/b\/c\/d"/);
  });
});

describe('timestamps', () => {
  it.each([
    ['2024-05-01T10:00:00.000000Z', Date.UTC(2024, 4, 1, 10) * 1000],
    ['2024-05-01T10:00:00.012345Z', Date.UTC(2024, 4, 1, 10) * 1000 + 12345],
    ['2024-05-01T10:00:00Z', Date.UTC(2024, 4, 1, 10) * 1000],
    ['2024-05-01T10:00:00.5Z', Date.UTC(2024, 4, 1, 10) * 1000 + 500000],
    ['2024-05-01T10:00:00.123456789Z', Date.UTC(2024, 4, 1, 10) * 1000 + 123456],
    ['2024-05-01T12:00:00+02:00', Date.UTC(2024, 4, 1, 10) * 1000],
    ['2024-05-01t10:00:00z', Date.UTC(2024, 4, 1, 10) * 1000],
  ])('%s', (ts, want) => expect(timestampMicros(ts)).toBe(want));

  it.each(['2024-05-01', '2024-05-01 10:00:00Z', '10:00', 'yesterday', '2024-13-01T10:00:00Z', 12])(
    '%j is not one',
    (ts) => {
      expect(timestampMicros(ts)).toBeUndefined();
    },
  );

  it('latency is stage time minus received time, in µs', () => {
    expect(
      latencyMicros({
        requestReceivedTimestamp: '2024-05-01T10:00:00.000000Z',
        stageTimestamp: '2024-05-01T10:00:00.012345Z',
      }),
    ).toBe(12345);
    expect(latencyMicros({ stageTimestamp: '2024-05-01T10:00:00.012345Z' })).toBeUndefined();
  });

  it('the event time is when the request came, else the stage time', () => {
    expect(
      eventTime({ requestReceivedTimestamp: '2024-05-01T10:00:00Z', stageTimestamp: '2024-05-01T10:00:01Z' }),
    ).toBe(Date.UTC(2024, 4, 1, 10) * 1000);
    expect(eventTime({ stageTimestamp: '2024-05-01T10:00:01Z' })).toBe(Date.UTC(2024, 4, 1, 10, 0, 1) * 1000);
    expect(eventTime({})).toBeUndefined();
  });
});

describe('--since', () => {
  const now = Date.UTC(2024, 4, 1, 12);
  it.each([
    ['10m', 600e6],
    ['2h', 7200e6],
    ['1h30m', 5400e6],
    ['90s', 90e6],
    ['500ms', 500e3],
    ['1d', 86400e6],
    ['1.5h', 5400e6],
  ])('%s ago', (flag, micros) => {
    expect(parseDurationMicros(flag)).toBe(micros);
    expect(parseSince(flag, now)).toBe(now * 1000 - micros);
  });

  it('an RFC 3339 time is taken as is', () => {
    expect(parseSince('2024-05-01T10:00:04Z', now)).toBe(Date.UTC(2024, 4, 1, 10, 0, 4) * 1000);
  });

  it.each(['', '10', 'm', '10 m', '10min', '-5m', 'yesterday', '2024-05-01'])('rejects %j naming the flag', (flag) => {
    expect(() => parseSince(flag, now)).toThrow(UserError);
    expect(() => parseSince(flag, now)).toThrow(/^--since/);
  });
});

describe('asStoredEvent', () => {
  it('drops sub-objects of the wrong type rather than trusting them', () => {
    expect(asStoredEvent({ auditID: 'a', user: 'alice', objectRef: [1], responseStatus: 200 })).toEqual({
      auditID: 'a',
    });
  });
});

describe('resourceOf', () => {
  it.each([
    [ev({ resource: 'pods' }), 'pods'],
    [ev({ resource: 'pods', sub: 'log' }), 'pods/log'],
    [ev({ group: 'apps', resource: 'deployments' }), 'apps/deployments'],
    [ev({ group: 'apps', resource: 'deployments', sub: 'scale' }), 'apps/deployments/scale'],
    [ev({ requestURI: '/healthz' }), undefined],
  ])('%#', (e, want) => expect(resourceOf(e)).toBe(want));
});
