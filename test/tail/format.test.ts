import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../src/audit/eventShape.js';
import { asStoredEvent, type StoredEvent } from '../../src/audit/filter.js';
import stringWidth from 'string-width';
import {
  formatEventList,
  formatJson,
  formatLatency,
  formatSummary,
  formatTime,
  objectOf,
  PrettyFormatter,
  resourceColumn,
  sourceIPOf,
  Tally,
  topCounts,
} from '../../src/ui/format.js';
import { ellipsize } from '../../src/ui/width.js';
import { ANSI } from '../harness/cli.js';
import { fixtureLines } from '../harness/events.js';

const plain = new Chalk({ level: 0 });
const colour = new Chalk({ level: 1 });

async function fixtureEvents(name: string): Promise<StoredEvent[]> {
  return (await fixtureLines(name)).map((l) => asStoredEvent(decodeBody(l, '')[0]!));
}

describe('formatLatency', () => {
  it.each([
    [0, '0µs'],
    [850, '850µs'],
    [999, '999µs'],
    [1_000, '1.0ms'],
    [1_200, '1.2ms'],
    [12_345, '12ms'],
    [145_000, '145ms'],
    [999_400, '999ms'],
    [1_250_000, '1.25s'],
    [12_500_000, '12.5s'],
    [309_000_000, '5m09s'],
    [-2_000, '-2.0ms'],
    [undefined, '-'],
  ])('%s µs -> %s', (micros, want) => expect(formatLatency(micros)).toBe(want));
});

describe('formatTime', () => {
  const t = Date.UTC(2024, 4, 1, 9, 5, 7, 89) * 1000 + 123;
  it('shows UTC time of day to the millisecond', () => expect(formatTime(t)).toBe('09:05:07.089'));
  it('with the date for -o wide', () => expect(formatTime(t, true)).toBe('2024-05-01T09:05:07.089Z'));
  it('a dash without a time', () => expect(formatTime(undefined)).toBe('-'));
});

describe('cells', () => {
  it.each([
    [{ objectRef: { namespace: 'default', name: 'nginx' } }, 'default/nginx'],
    [{ objectRef: { namespace: 'default' } }, 'default'],
    [{ objectRef: { name: 'node-1' } }, 'node-1'],
    [{}, '-'],
  ] as [StoredEvent, string][])('object of %o is %s', (e, want) => expect(objectOf(e)).toBe(want));

  it.each([
    [{ objectRef: { resource: 'pods', subresource: 'log' } }, 'pods/log'],
    [{ objectRef: { resource: 'deployments', apiGroup: 'apps', subresource: 'scale' } }, 'apps/deployments/scale'],
    [{ requestURI: '/healthz?verbose=1' }, '/healthz'],
    [{}, '-'],
  ] as [StoredEvent, string][])('resource of %o is %s', (e, want) => expect(resourceColumn(e)).toBe(want));

  it('source IPs, joined when there are several', () => {
    expect(sourceIPOf({ sourceIPs: ['10.0.0.1', '172.18.0.1'] })).toBe('10.0.0.1,172.18.0.1');
    expect(sourceIPOf({})).toBe('-');
  });
});

describe('PrettyFormatter', () => {
  it('one line per event with time, sink, stage, user, verb, code, latency, resource, object', async () => {
    const [first] = await fixtureEvents('default.log');
    const f = new PrettyFormatter(plain, { utc: true });
    expect(f.format(first!, 'default').split(/ +/)).toEqual([
      '10:00:00.000',
      'default',
      'ResponseComplete',
      'kubernetes-admin',
      'list',
      '200',
      '12ms',
      'pods',
      'default',
    ]);
  });

  it('wide adds source IP, user agent, request URI and audit ID', async () => {
    const [first] = await fixtureEvents('default.log');
    const line = new PrettyFormatter(plain, { wide: true, utc: true }).format(first!, 'default');
    expect(line.startsWith('2024-05-01T10:00:00.000Z  default  ')).toBe(true);
    expect(line).toContain(
      '  172.18.0.1  kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc  /api/v1/namespaces/default/pods?limit=500  7f3c1b52-9a4e-4d2b-8c61-0e5a2f9d4b17',
    );
  });

  it('aligns the columns of everything measured up front', async () => {
    const events = [...(await fixtureEvents('default.log')), ...(await fixtureEvents('secrets.log'))];
    const f = new PrettyFormatter(plain);
    const items = events.map((event, i) => ({ event, sink: i % 2 ? 'default' : 'secrets' }));
    f.measure(items);
    const lines = items.map((x) => f.format(x.event, x.sink));
    // Every column starts where it starts on the first line: user (4th) and code (8th) columns.
    const userAt = lines[0]!.indexOf('kubernetes-admin');
    for (const [i, l] of lines.entries()) {
      expect(l.indexOf(String(events[i]!.user!.username)), l).toBe(userAt);
    }
    // The resource column, after the right-aligned code and latency, starts at one place too.
    const resourceAt = new Set(lines.map((l, i) => l.indexOf(`  ${resourceColumn(events[i]!)}`, userAt)));
    expect(resourceAt.size).toBe(1);
  });

  it('widths only grow, and a long value overflows instead of being cut', () => {
    const f = new PrettyFormatter(plain);
    const long = 'system:serviceaccount:some-very-long-namespace-name:some-very-long-controller';
    const line = f.format({ user: { username: long }, verb: 'get' }, 'default');
    expect(line).toContain(`${long}  get`);
    const next = f.format({ user: { username: 'bob' }, verb: 'get' }, 'default');
    // bob is padded to the cap (40), not to the long name.
    expect(next).toContain(`bob${' '.repeat(40 - 3)}  get`);
  });

  it('colours only with a colour style, and the plain text is the same', async () => {
    const events = await fixtureEvents('default.log');
    for (const e of events) {
      const p = new PrettyFormatter(plain).format(e, 'default');
      const c = new PrettyFormatter(colour).format(e, 'default');
      expect(p).not.toMatch(ANSI);
      expect(c).toMatch(ANSI);
      expect(c.replace(/\u001b\[\d+m/g, '')).toBe(p);
    }
  });

  it.each([
    [403, '\u001b[33m403\u001b[39m'],
    [201, '\u001b[32m201\u001b[39m'],
    [500, '\u001b[31m\u001b[1m500\u001b[22m\u001b[39m'],
  ])('code %s is coloured by class', (code, want) => {
    expect(new PrettyFormatter(colour).format({ responseStatus: { code } }, 's')).toContain(want);
  });

  it('never throws on an event with odd fields', () => {
    const f = new PrettyFormatter(colour, { wide: true });
    for (const e of [
      {},
      {
        verb: 5,
        user: { username: null },
        sourceIPs: 'x',
        objectRef: { resource: 1 },
        requestReceivedTimestamp: 'soon',
      },
    ] as StoredEvent[]) {
      expect(typeof f.format(e, 'default')).toBe('string');
    }
  });

  it('a RequestReceived event has no latency yet', () => {
    const line = new PrettyFormatter(plain).format(
      {
        stage: 'RequestReceived',
        requestReceivedTimestamp: '2024-05-01T10:00:00Z',
        stageTimestamp: '2024-05-01T10:00:00Z',
      },
      's',
    );
    expect(line.trimEnd().endsWith('-  -')).toBe(true);
  });
});

describe('PrettyFormatter fitted to a terminal', () => {
  it.each([80, 100, 132])(
    'at %i columns no line (header included) is wider, and the header names sit over their columns',
    async (width) => {
      const events = [
        ...(await fixtureEvents('default.log')),
        {
          ...(await fixtureEvents('secrets.log'))[0]!,
          user: { username: 'system:serviceaccount:a-long-namespace:a-long-name' },
        },
      ];
      const f = new PrettyFormatter(plain, { width, header: true, utc: true });
      const items = events.map((event) => ({ event, sink: 'a-sink-with-a-long-name' }));
      f.measure(items);
      const head = f.header();
      const lines = items.map((x) => f.format(x.event, x.sink));
      for (const l of [head, ...lines]) expect(Array.from(l).length, l).toBeLessThanOrEqual(width);
      // The first event's verb (list) and code (200, right-aligned under CODE) line up with the header.
      expect(lines[0]!.indexOf(' list ') + 1).toBe(head.indexOf('VERB'));
      expect(lines[0]!.indexOf(' 200 ') + 1).toBe(head.indexOf('CODE') + 1);
    },
  );

  it('cuts names in the middle, says stages short, and leaves latency out when it would squeeze the names', async () => {
    const [first] = await fixtureEvents('default.log');
    const f = new PrettyFormatter(plain, { width: 90, header: true, utc: true });
    const user = 'system:serviceaccount:kube-system:generic-garbage-collector';
    const objectRef = {
      resource: 'pods',
      namespace: 'default',
      name: 'a-pod-with-a-long-generated-name-7c5ddbdf54-x2k9p',
    };
    f.measure([
      { event: { ...first!, user: { username: user }, objectRef }, sink: 'default' },
      { event: { ...first!, stage: 'RequestReceived' }, sink: 'secrets' },
    ]);
    const line = f.format({ ...first!, user: { username: user } }, 'default');
    expect(line.split(/ +/).slice(0, 5)).toEqual([
      '10:00:00.000',
      'default',
      'Complete',
      expect.stringMatching(/^system:\S*…\S*ollector$/),
      'list',
    ]);
    expect(f.header()).not.toContain('LATENCY');
    expect(new PrettyFormatter(plain, { width: 200, header: true }).header()).toContain('LATENCY');
  });

  it('at 80 columns leaves out first what tells no events apart (one stage, one sink), then latency, stage and sink, so the names keep their ends', async () => {
    const events = await fixtureEvents('default.log');
    const names = (f: PrettyFormatter) => f.shownColumns();
    const sinkOf = (i: number) => (i % 2 === 0 ? 'default' : 'other');
    const varying = events.map((event, i) => ({
      event: { ...event, stage: i % 2 === 0 ? 'ResponseComplete' : 'RequestReceived' },
      sink: sinkOf(i),
    }));
    const at = (width: number, items: { event: StoredEvent; sink: string }[]) => {
      const f = new PrettyFormatter(plain, { width, header: true, utc: true });
      f.measure(items);
      return f;
    };
    // Every default.log event is ResponseComplete: STAGE goes before LATENCY; a varied one after it.
    expect(
      names(
        at(
          98,
          events.map((event, i) => ({ event, sink: sinkOf(i) })),
        ),
      ),
    ).toBe('TIME SINK USER VERB CODE LATENCY RESOURCE OBJECT');
    expect(names(at(98, varying))).toBe('TIME SINK USER VERB CODE RESOURCE OBJECT');
    const varied = at(80, varying);
    expect(names(varied)).toBe('TIME USER VERB CODE RESOURCE OBJECT');
    const scheduler = varied.format({ ...events[0]!, user: { username: 'system:kube-scheduler' } }, 'default');
    const manager = varied.format({ ...events[0]!, user: { username: 'system:kube-controller-manager' } }, 'default');
    expect(scheduler.split(/ +/)[1]).toMatch(/^system:…\S*duler$/);
    expect(manager.split(/ +/)[1]).toMatch(/^system:…\S*anager$/);
  });

  it.each([80, 120])(
    'at %i columns East Asian wide names take two columns each, and no line is wider',
    async (width) => {
      const events = await fixtureEvents('default.log');
      const wide = events.map((e, i) => ({
        ...e,
        user: { username: `系统:服务账号:命名空间${i}:很长的名字很长的名字` },
        objectRef: { resource: 'configmaps', namespace: '生产环境', name: `配置${i}` },
      }));
      const f = new PrettyFormatter(plain, { width, header: true, utc: true });
      const items = wide.map((event) => ({ event, sink: 'default' }));
      f.measure(items);
      const lines = [f.header(), ...items.map((x) => f.format(x.event, x.sink))];
      for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(width);
      // Columns still line up under their header names, measured in columns.
      const at = (l: string, s: string) => stringWidth(l.slice(0, l.indexOf(s)));
      expect(at(lines[1]!, ' list ') + 1).toBe(at(lines[0]!, 'VERB'));
    },
  );

  it('without a width (a pipe) nothing is cut or shortened', async () => {
    const [first] = await fixtureEvents('default.log');
    const long = 'system:serviceaccount:kube-system:generic-garbage-collector';
    const line = new PrettyFormatter(plain).format({ ...first!, user: { username: long } }, 'default');
    expect(line).toContain(long);
    expect(line).toContain('ResponseComplete');
  });

  it.each([
    ['pods', 10, 'pods'],
    ['kube-system/coredns', 10, 'kube-syst…'],
    ['ab', 1, '…'],
    ['ünïcødé-names', 5, 'ünïc…'],
    // Wide characters take two columns; a cut never splits one, nor a letter from its accent.
    ['漢字のなまえ', 5, '漢字…'],
    ['漢字のなまえ', 6, '漢字…'],
    ['漢字', 4, '漢字'],
    ['漢字', 3, '漢…'],
    ['ｆｕｌｌ', 4, 'ｆ…'],
    ['e\u0301e\u0301e\u0301', 2, 'e\u0301…'],
  ])('ellipsize(%j, %i) is %j', (text, width, want) => expect(ellipsize(text, width)).toBe(want));
});

describe('formatEventList', () => {
  it('is one audit.k8s.io/v1 EventList document of the events as they are', async () => {
    const events = await fixtureEvents('secrets.log');
    expect(JSON.parse(formatEventList(events))).toEqual({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      metadata: {},
      items: events,
    });
  });
});

describe('formatJson', () => {
  it('is the stored event, indented', async () => {
    const [line] = await fixtureLines('secrets.log');
    const e = JSON.parse(line!) as StoredEvent;
    expect(formatJson(e)).toBe(JSON.stringify(e, null, 2));
    expect(JSON.parse(formatJson(e))).toEqual(e);
  });
});

describe('summary', () => {
  it('counts events by verb, user and code, most frequent first', async () => {
    const t = new Tally();
    for (const e of await fixtureEvents('default.log')) t.add(e);
    expect(t.total).toBe(10);
    expect(formatSummary(t, plain)).toBe(
      [
        '10 events shown',
        '  by verb: get 3, list 2, create 1, delete 1, patch 1, update 1, watch 1',
        '  by user: kubernetes-admin 6, system:anonymous 1, system:kube-scheduler 1, system:node:audit-lab-control-plane 1, system:serviceaccount:default:reader 1',
        '  by code: 200 7, 201 1, 403 1, 404 1',
      ].join('\n'),
    );
  });

  it('says how many lines were skipped, and that nothing was shown', () => {
    expect(formatSummary(new Tally(), plain, { skipped: 2 })).toBe(
      '0 events shown\n  refused: 2 lines not audit events, listed above',
    );
  });

  it('events with no response count under "-"', () => {
    const t = new Tally();
    t.add({ stage: 'RequestReceived', verb: 'get', user: { username: 'a' } });
    expect(formatSummary(t, plain)).toContain('by code: - 1');
  });

  it('folds the long tail', () => {
    const m = new Map([
      ['a', 1],
      ['b', 5],
      ['c', 5],
      ['d', 2],
    ]);
    expect(topCounts(m, 2)).toBe('b 5, c 5, +2 more');
  });
});
