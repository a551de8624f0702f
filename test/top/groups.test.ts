import stringWidth from 'string-width';
/** `top`'s pure parts: time slots, the group table and its cap, windows, the report, the table's layout. */
import { describe, expect, it } from 'vitest';
import { timestampMicros } from '../../src/audit/filter.js';
import { GroupTable } from '../../src/top/groups.js';
import { buildReport } from '../../src/top/report.js';
import { TimeSlots } from '../../src/top/slots.js';
import { formatSeconds, parseWindow } from '../../src/top/window.js';
import {
  formatAge,
  formatBytes,
  formatRate,
  sparkline,
  topScreenLines,
  topTableLines,
  type TopRow,
} from '../../src/ui/topView.js';
import { Chalk } from 'chalk';

const S = 1_000_000;
const T0 = Date.UTC(2026, 0, 1) * 1000;
const at = (seconds: number) => new Date((T0 + seconds * S) / 1000).toISOString();
const ev = (o: { user?: string; verb?: string; at?: number; code?: number; text?: string }) => ({
  sink: 'default',
  text: o.text ?? 'x'.repeat(99),
  event: {
    user: o.user === undefined ? undefined : { username: o.user },
    verb: o.verb ?? 'get',
    requestReceivedTimestamp: o.at === undefined ? undefined : at(o.at),
    responseStatus: o.code === undefined ? undefined : { code: o.code },
  },
});

describe('TimeSlots', () => {
  it('sums the slots of a stretch, drops what falls behind the ring, and starts slots it moves past empty', () => {
    const ring = new TimeSlots(5, S, true);
    for (const t of [0, 0.5, 1, 3, 4.9]) ring.add(T0 + t * S, 10);
    const end = ring.slotOf(T0 + 4 * S);
    expect(ring.sum(end, 5)).toEqual({ events: 5, bytes: 50 });
    expect(ring.sum(end, 2)).toEqual({ events: 2, bytes: 20 });
    expect(ring.series(end, 5)).toEqual([2, 1, 0, 1, 1]);
    // Two seconds on: seconds 0 and 1 leave the ring; an event in second 2 still lands.
    ring.add(T0 + 6 * S, 10);
    ring.add(T0 + 2.5 * S, 10);
    expect(ring.series(ring.slotOf(T0 + 6 * S), 5)).toEqual([1, 1, 1, 0, 1]);
    // Too old for the ring: left out.
    ring.add(T0 + 0.1 * S, 10);
    expect(ring.sum(ring.slotOf(T0 + 6 * S), 5).events).toBe(4);
    // After a long gap, nothing of before is left.
    ring.add(T0 + 100 * S, 10);
    expect(ring.series(ring.slotOf(T0 + 100 * S), 5)).toEqual([0, 0, 0, 0, 1]);
  });
});

describe('TimeSlots.sum, from its running total', () => {
  it('is the sum of the slots asked for, wherever the stretch falls against the ring', () => {
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const ring = new TimeSlots(60, S, true);
    let t = T0;
    for (let i = 0; i < 5000; i++) {
      // Mostly forward, sometimes a step back or a long gap.
      t += (next() < 0.05 ? 90 : next() < 0.1 ? -20 : next() * 0.5) * S;
      ring.add(t, 1 + Math.floor(next() * 100));
      const end = ring.slotOf(t) + Math.floor(next() * 70) - 5;
      const count = 1 + Math.floor(next() * 70);
      const events = ring.series(end, count).reduce((a, b) => a + b, 0);
      expect(ring.sum(end, count).events, `add ${i}`).toBe(events);
    }
  });
});

describe('windows', () => {
  it.each([
    ['1s', { seconds: 1, slotSeconds: 1, slots: 1 }],
    ['1m', { seconds: 60, slotSeconds: 1, slots: 60 }],
    ['90s', { seconds: 90, slotSeconds: 2, slots: 45 }],
    ['61s', { seconds: 62, slotSeconds: 2, slots: 31 }],
    ['1h', { seconds: 3600, slotSeconds: 60, slots: 60 }],
  ])('%s', (value, want) => expect(parseWindow(value)).toEqual(want));

  it.each(['0s', '500ms', '1.5s', '', 'm', '-1m'])('%j is refused', (value) => {
    expect(() => parseWindow(value)).toThrow(/--window .* is not a duration of whole seconds/);
  });

  it('prints as Go does', () => {
    expect([45, 60, 90, 3600, 3605, 86400].map(formatSeconds)).toEqual(['45s', '1m', '1m30s', '1h', '1h0m5s', '24h']);
  });
});

describe('GroupTable', () => {
  it('counts events and bytes (line + newline) per group; values of any characters never meet', () => {
    const t = new GroupTable({ keys: ['user', 'verb'], sparkline: false });
    t.add(ev({ user: 'a\u0000b', verb: 'c' }));
    t.add(ev({ user: 'a', verb: 'b\u0000c' }));
    t.add(ev({ user: 'a', verb: 'b\u0000c', text: 'é' }));
    t.add(ev({ verb: 'c' }));
    expect(t.groups.map((g) => [g.values, g.events, g.bytes])).toEqual([
      [['a\u0000b', 'c'], 1, 100],
      [['a', 'b\u0000c'], 2, 100 + 3],
      [[undefined, 'c'], 1, 100],
    ]);
    expect([t.events, t.bytes]).toEqual([4, 303]);
  });

  it('a code is a number, and an event without one has none', () => {
    const t = new GroupTable({ keys: ['code'], sparkline: false });
    for (const code of [200, 404, 200, undefined]) t.add(ev({ code }));
    expect(t.groups.map((g) => [g.values[0], g.events])).toEqual([
      [200, 2],
      [404, 1],
      [undefined, 1],
    ]);
  });

  it('beyond the cap, new keys count together as (other); the ones kept still count', () => {
    const t = new GroupTable({ keys: ['user', 'verb'], sparkline: false, cap: 2 });
    for (const [user, verb] of [
      ['a', 'get'],
      ['b', 'get'],
      ['c', 'get'],
      ['a', 'list'],
      ['a', 'get'],
      ['d', 'watch'],
    ])
      t.add(ev({ user, verb }));
    expect(t.groups.map((g) => [g.values, g.events])).toEqual([
      [['a', 'get'], 2],
      [['b', 'get'], 1],
    ]);
    expect(t.other).toMatchObject({ other: true, events: 3, values: [undefined, undefined] });
    expect(t.events).toBe(6);
  });
});

describe('buildReport', () => {
  const table = (window?: string) => {
    const t = new GroupTable({
      keys: ['user'],
      window: window === undefined ? undefined : parseWindow(window),
      sparkline: true,
    });
    // a: 10 events in second 0; b: one a second from 0 to 19; c: 3 events in second 19.
    for (let i = 0; i < 10; i++) t.add(ev({ user: 'a', at: 0.05 * i }));
    for (let i = 0; i < 20; i++) t.add(ev({ user: 'b', at: i + 0.5 }));
    for (let i = 0; i < 3; i++) t.add(ev({ user: 'c', at: 19.1 }));
    return t;
  };
  const sort = { column: 'rate' as const, reverse: false };

  it('over the whole span: rates over its whole seconds, shares of all events, sorted by rate', () => {
    const r = buildReport(table(), {
      end: T0 + 19.5 * S,
      window: undefined,
      windowTotals: true,
      sort,
      sparkline: false,
    });
    expect(r.span?.seconds).toBe(20);
    expect(r.rows.map((x) => [x.key[0], x.events, x.eventsPerSecond, x.share])).toEqual([
      ['b', 20, 1, 20 / 33],
      ['a', 10, 0.5, 10 / 33],
      ['c', 3, 0.15, 3 / 33],
    ]);
    expect(r.totals).toMatchObject({ events: 33, bytes: 3300, eventsPerSecond: 33 / 20, groups: 3 });
  });

  it('with a window kept to itself: only its events, and groups with none in it left out', () => {
    const r = buildReport(table('5s'), {
      end: T0 + 19.5 * S,
      window: parseWindow('5s'),
      windowTotals: true,
      sort,
      sparkline: false,
    });
    expect(r.window).toEqual({ seconds: 5, from: T0 + 15 * S, to: T0 + 20 * S });
    expect(r.rows.map((x) => [x.key[0], x.events, x.eventsPerSecond])).toEqual([
      ['b', 5, 1],
      ['c', 3, 0.6],
    ]);
    expect(r.totals).toMatchObject({ events: 8, eventsPerSecond: 8 / 5, groups: 2 });
    expect(r.read.events).toBe(33);
  });

  it('live: totals of everything, rates of the window, sparklines of the last minute', () => {
    const r = buildReport(table('1m'), {
      end: T0 + 19.5 * S,
      window: parseWindow('1m'),
      windowTotals: false,
      sort: { column: 'events', reverse: false },
      sparkline: true,
      limit: 2,
    });
    expect(r.rows.map((x) => [x.key[0], x.events, x.eventsPerSecond])).toEqual([
      ['b', 20, 20 / 60],
      ['a', 10, 10 / 60],
    ]);
    expect(r.hidden).toBe(1);
    expect(r.rows[1]!.spark).toEqual([...Array(40).fill(0), 10, ...Array(19).fill(0)]);
    expect(r.rows[0]!.lastSeenAge).toBe(0);
    expect(r.rows[1]!.lastSeenAge).toBe(19.5 * S - 0.45 * S);
  });

  it('with a limit, the rows are the first of the whole sorted list, for every order', () => {
    const t = new GroupTable({ keys: ['user', 'code'], window: parseWindow('10s'), sparkline: false });
    let seed = 5;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 3000; i++)
      t.add(
        ev({
          user: `u${Math.floor(next() * 40)}`,
          code: 200 + Math.floor(next() * 3),
          at: next() * 30,
          text: 'y'.repeat(Math.floor(next() * 50)),
        }),
      );
    for (const column of ['key', 'events', 'rate', 'bytes', 'byteRate', 'last'] as const) {
      for (const reverse of [false, true]) {
        const o = {
          end: T0 + 30 * S,
          window: parseWindow('10s'),
          windowTotals: false,
          sort: { column, reverse },
          sparkline: false,
        };
        const all = buildReport(t, o).rows.map((r) => r.key.join(' '));
        const some = buildReport(t, { ...o, limit: 7 });
        expect(
          some.rows.map((r) => r.key.join(' ')),
          `${column} ${reverse}`,
        ).toEqual(all.slice(0, 7));
        expect(some.hidden).toBe(all.length - 7);
      }
    }
  });

  it('sorts by any column, reversed on demand, ties by name', () => {
    const t = table();
    const order = (column: 'key' | 'last' | 'bytes', reverse = false) =>
      buildReport(t, {
        end: T0 + 20 * S,
        window: undefined,
        windowTotals: true,
        sort: { column, reverse },
        sparkline: false,
      }).rows.map((x) => x.key[0]);
    expect(order('key')).toEqual(['a', 'b', 'c']);
    expect(order('key', true)).toEqual(['c', 'b', 'a']);
    expect(order('last')).toEqual(['b', 'c', 'a']);
    expect(order('bytes')).toEqual(['b', 'a', 'c']);
  });
});

describe('the table', () => {
  const style = new Chalk({ level: 0 });
  const row = (key: (string | number | undefined)[], events: number): TopRow => ({
    key,
    other: false,
    events,
    bytes: events * 1500,
    eventsPerSecond: events / 60,
    bytesPerSecond: (events * 1500) / 60,
    share: events / 100,
    lastSeenAge: 3 * S,
    spark: [...Array(59).fill(0), events],
  });
  const rows = [
    row(['system:serviceaccount:kube-system:endpointslice-controller', 'list', 'discovery.k8s.io/endpointslices'], 70),
    row(['kubernetes-admin', 'get', 'pods'], 30),
    { ...row([], 5), other: true },
  ];

  it('off a terminal: every column, nothing cut, (other) named', () => {
    const lines = topTableLines(rows, { keys: ['user', 'verb', 'resource'], style, spark: false });
    expect(lines[0]).toMatch(/^USER +VERB +RESOURCE +EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN$/);
    expect(lines[1]).toMatch(
      /^system:serviceaccount:kube-system:endpointslice-controller +list +discovery\.k8s\.io\/endpointslices +70 +1\.17 +70\.0% +103KiB +1\.7KiB +3s$/,
    );
    expect(lines[3]).toMatch(/^\(other\) +5 /);
  });

  it.each([200, 132, 100, 80, 60])('at %i columns no line is wider, keys are cut with an ellipsis', (width) => {
    const lines = topTableLines(rows, {
      keys: ['user', 'verb', 'resource'],
      style,
      spark: true,
      width,
      sortedBy: 'rate',
    });
    for (const l of lines) expect(Array.from(l).length, l).toBeLessThanOrEqual(width);
    expect(lines[0]).toContain('EVENTS/S');
    if (width >= 200) expect(lines[1]).toContain('endpointslice-controller');
    else expect(lines[1]).toContain('…');
  });

  it('gives way in order: the sparkline first, then BYTES, EVENTS and LAST SEEN, never the sorted column', () => {
    const head = (width: number, sortedBy: 'rate' | 'bytes' = 'rate') =>
      topTableLines(rows, { keys: ['user', 'verb', 'resource'], style, spark: true, width, sortedBy })[0]!;
    expect(head(132)).toMatch(/ EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN +LAST MINUTE$/);
    expect(head(100)).toMatch(/ EVENTS +EVENTS\/S +SHARE +BYTES +BYTES\/S +LAST SEEN$/);
    expect(head(80)).toMatch(/RESOURCE +EVENTS\/S +SHARE +BYTES\/S +LAST SEEN$/);
    expect(head(80, 'bytes')).toMatch(/ SHARE +BYTES +BYTES\/S/);
    expect(head(60)).toMatch(/RESOURCE +EVENTS\/S +SHARE +BYTES\/S$/);
  });

  it.each([120, 80])(
    'at %i columns wide characters count two columns: no line is wider, numbers stay aligned',
    (width) => {
      const wide = [
        row(['系统:服务账号:命名空间:很长的控制器名字', 'list', '配置映射'], 70),
        row(['管理员', 'get', 'pods'], 30),
      ];
      const lines = topTableLines(wide, {
        keys: ['user', 'verb', 'resource'],
        style,
        spark: true,
        width,
        sortedBy: 'rate',
      });
      for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(width);
      const end = (l: string, s: string) => stringWidth(l.slice(0, l.indexOf(s) + s.length));
      expect(end(lines[1]!, ' 1.17')).toBe(end(lines[0]!, 'EVENTS/S'));
      expect(end(lines[2]!, ' 0.50')).toBe(end(lines[0]!, 'EVENTS/S'));
    },
  );

  it("the live screen's title fits with wide characters in it", () => {
    const screen = {
      source: 'sink 審計ログ審計ログ審計ログ審計ログ審計ログ審計ログ',
      window: '1m',
      eventsPerSecond: 1.5,
      bytesPerSecond: 2048,
      groups: 3,
      paused: true,
      loading: false,
      skipping: false,
      sortedBy: 'rate' as const,
      reverse: false,
      hidden: 0,
    };
    const lines = topScreenLines(screen, rows, { keys: ['user', 'verb', 'resource'], style, cols: 80, rows: 8 });
    for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/PAUSED$/);
  });

  it('on a narrow screen the title leaves whole facts out, the least telling first, and the footer the keys least needed', () => {
    const screen = {
      source: 'sinks default, secrets',
      window: '1m',
      eventsPerSecond: 0.045,
      bytesPerSecond: 43,
      groups: 51,
      paused: false,
      loading: false,
      skipping: false,
      sortedBy: 'rate' as const,
      reverse: false,
      hidden: 30,
    };
    const lines = topScreenLines(screen, rows, { keys: ['user', 'verb', 'resource'], style, cols: 79, rows: 8 });
    expect(lines[0]).toBe('sinks default, secrets · window 1m · 0.045 events/s · 51 groups (3 shown)');
    expect(lines.at(-1)).toBe('q quit  p pause  < > sort  r rate  e events  b bytes/s  l last seen  R reverse');
    const wide = topScreenLines(screen, rows, { keys: ['user', 'verb', 'resource'], style, cols: 200, rows: 8 });
    expect(wide[0]).toBe(
      'sinks default, secrets · window 1m · 0.045 events/s · 43B/s · 51 groups (3 shown) · sorted by EVENTS/S',
    );
    expect(wide.at(-1)).toBe('q quit  p pause  < > sort  r rate  e events  b bytes/s  l last seen  n name  R reverse');
  });

  it('keys are cut in their middle, so names that share a start stay apart', () => {
    const users = [
      row(['system:kube-scheduler', 'update', 'leases'], 70),
      row(['system:kube-controller-manager', 'update', 'leases'], 30),
    ];
    const lines = topTableLines(users, {
      keys: ['user', 'verb', 'resource'],
      style,
      spark: false,
      width: 60,
      sortedBy: 'rate',
    });
    const first = (l: string) => l.split(/ +/)[0]!;
    expect(first(lines[1]!)).toMatch(/^system:\S*…\S*duler$/);
    expect(first(lines[2]!)).toMatch(/^system:\S*…\S*anager$/);
  });

  it('escapes control characters of event fields', () => {
    const lines = topTableLines([row(['evil\u001b[2J', 'get', 'pods'], 1)], {
      keys: ['user', 'verb', 'resource'],
      style,
      spark: false,
    });
    expect(lines[1]).toContain('evil\\x1b[2J');
    expect(lines[1]).not.toContain('\u001b');
  });

  it('the live screen: exactly its rows, the footer last, the groups that do not fit counted', () => {
    const screen = {
      source: 'sink default',
      window: '1m',
      eventsPerSecond: 1.5,
      bytesPerSecond: 2048,
      groups: 3,
      paused: true,
      loading: false,
      skipping: false,
      sortedBy: 'rate' as const,
      reverse: false,
      hidden: 0,
    };
    const lines = topScreenLines(screen, rows, { keys: ['user', 'verb', 'resource'], style, cols: 110, rows: 5 });
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(
      /^sink default · window 1m · 1\.50 events\/s · 2\.0KiB\/s · 3 groups \(2 shown\) · sorted by EVENTS\/S +PAUSED$/,
    );
    expect(lines[4]).toMatch(/^q quit/);
    for (const l of lines) expect(Array.from(l).length).toBeLessThanOrEqual(110);
  });
});

describe('formats', () => {
  it('rates, bytes, ages and sparklines', () => {
    expect([null, 0, 0.0004, 0.0032, 0.5, 2.5, 12.34, 340.6].map(formatRate)).toEqual([
      '-',
      '0',
      '<0.001',
      '0.0032',
      '0.50',
      '2.50',
      '12.3',
      '341',
    ]);
    expect([512, 1536, 12 * 1024, 340 * 1024 * 1024].map(formatBytes)).toEqual(['512B', '1.5KiB', '12KiB', '340MiB']);
    expect([undefined, 12 * S, 270 * S, 25 * 60 * S, 3 * 3600 * S, 3 * 86400 * S].map(formatAge)).toEqual([
      '-',
      '12s',
      '4m30s',
      '25m',
      '3h',
      '3d',
    ]);
    expect(sparkline([...Array(56).fill(0), 1, 1, 1, 1])).toBe(`${' '.repeat(14)}█`);
    expect(sparkline(Array.from({ length: 60 }, (_v, i) => Math.floor(i / 4)))).toBe(' ▁▂▂▃▃▄▄▅▆▆▇▇██');
  });
});

describe('timestampMicros, with its memo of the last second', () => {
  it('gives the same times whether the second was just seen or not', () => {
    const values = [
      '2026-01-01T10:00:00.000001Z',
      '2026-01-01T10:00:00.999999Z',
      '2026-01-01T10:00:01.5Z',
      '2026-01-01T10:00:00.250000Z',
      '2026-01-01T10:00:00.25000xZ',
      '2026-01-01T12:00:00.250000+02:00',
      '2026-01-01T10:00:00.250000z',
    ];
    const want = [
      T0 + 10 * 3600 * S + 1,
      T0 + 10 * 3600 * S + 999999,
      T0 + (10 * 3600 + 1.5) * S,
      T0 + 10 * 3600 * S + 250000,
      undefined,
      T0 + 10 * 3600 * S + 250000,
      T0 + 10 * 3600 * S + 250000,
    ];
    expect(values.map(timestampMicros)).toEqual(want);
    expect(values.map(timestampMicros)).toEqual(want);
  });
});
