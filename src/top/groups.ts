/**
 * `top`'s counting: events grouped by the --by keys, each group with its events, the bytes its
 * stored lines take, when it was first and last seen, and its events per slot of event time for
 * the window's rates and the last minute's sparkline. Pure, and bounded: the number of groups is
 * capped (further keys fold into one "(other)" group) and each group's memory is fixed, so
 * memory grows with neither the events nor their variety.
 */
import { eventTime, responseCode, type StoredEvent, str } from '../audit/filter.js';
import { resourceColumn } from '../ui/format.js';
import type { GroupKey } from './keys.js';
import { TimeSlots } from './slots.js';
import { SECOND, type Window } from './window.js';

/** One key's value in a group: a string, a response code, or undefined when the event has none. */
export type GroupValue = string | number | undefined;

export interface Group {
  /** Per --by key, in its order; all undefined for the "(other)" group. */
  readonly values: readonly GroupValue[];
  readonly other: boolean;
  events: number;
  /** What its stored lines take on disk: each line's UTF-8 bytes and its newline. */
  bytes: number;
  /** Event times (µs) of the first and the last seen; undefined while none had a time. */
  first: number | undefined;
  last: number | undefined;
  /** Events and bytes per slot: the window's slots, and per second for the sparkline when it is that fine. */
  readonly slots: TimeSlots | undefined;
  /** Events per second of the last minute, when `slots` are wider than a second. */
  readonly spark: TimeSlots | undefined;
}

/** An event as read: its parsed content, the sink (or file) it came from and its stored line. */
export interface CountedEvent {
  event: StoredEvent;
  sink: string;
  text: string;
}

export interface GroupTableOptions {
  keys: readonly GroupKey[];
  /** Keep per-slot counts for rates over this window. */
  window?: Window;
  /** Keep each group's events per second of the last minute. */
  sparkline: boolean;
  /** Groups kept apart; events of further keys count in "(other)". */
  cap?: number;
}

export const GROUP_CAP = 50_000;
export const SPARK_SECONDS = 60;

const nonEmpty = (v: string | undefined) => (v === '' ? undefined : v);

/** Where each key's value comes from; the resource as `tail` shows it (with group and subresource, or the path). */
const VALUE_OF: Record<GroupKey, (e: StoredEvent, sink: string) => GroupValue> = {
  user: (e) => nonEmpty(str(e.user?.username)),
  verb: (e) => nonEmpty(str(e.verb)),
  // resourceColumn says '-' when there is neither a resource nor a path.
  resource: (e) => {
    const r = resourceColumn(e);
    return r === '-' ? undefined : r;
  },
  namespace: (e) => nonEmpty(str(e.objectRef?.namespace)),
  code: (e) => responseCode(e),
  useragent: (e) => nonEmpty(str(e.userAgent)),
  stage: (e) => nonEmpty(str(e.stage)),
  sink: (_e, sink) => sink,
};

/** An event's value of each key, in their order: what its group is keyed by (-o json's `key`, by position). */
export function groupValues(keys: readonly GroupKey[], e: StoredEvent, sink: string): GroupValue[] {
  return keys.map((k) => VALUE_OF[k](e, sink));
}

/** Groups by the value of the first key, then of the next: a tree of Maps whose leaves are groups. */
type Level = Map<GroupValue, Level | Group>;

export class GroupTable {
  /** Every group but "(other)", in the order first seen. */
  readonly groups: Group[] = [];
  /** The "(other)" group, once the cap was reached. */
  other: Group | undefined;
  events = 0;
  bytes = 0;
  /** Event times (µs) of the oldest and newest event read that had one. */
  first: number | undefined;
  last: number | undefined;
  readonly cap: number;
  private readonly valueOf: ((e: StoredEvent, sink: string) => GroupValue)[];
  // Values are Map keys as they are (a code 200 is not the string "200", undefined is a key too),
  // so no two different tuples can meet, and no key string is built per event.
  private readonly tree: Level = new Map();

  constructor(readonly o: GroupTableOptions) {
    if (o.keys.length === 0) throw new Error('GroupTable needs a key to group by');
    this.cap = o.cap ?? GROUP_CAP;
    this.valueOf = o.keys.map((k) => VALUE_OF[k]);
  }

  private groupOf(e: StoredEvent, sink: string): Group {
    let level = this.tree;
    const last = this.valueOf.length - 1;
    for (let i = 0; i < last; i++) {
      const v = this.valueOf[i]!(e, sink);
      let next = level.get(v) as Level | undefined;
      if (next === undefined) {
        if (this.groups.length >= this.cap) return this.otherGroup();
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = this.valueOf[last]!(e, sink);
    let g = level.get(v) as Group | undefined;
    if (g === undefined) {
      if (this.groups.length >= this.cap) return this.otherGroup();
      g = this.newGroup(
        this.valueOf.map((f) => f(e, sink)),
        false,
      );
      level.set(v, g);
      this.groups.push(g);
    }
    return g;
  }

  private otherGroup(): Group {
    this.other ??= this.newGroup(
      this.valueOf.map(() => undefined),
      true,
    );
    return this.other;
  }

  add(r: CountedEvent): void {
    const g = this.groupOf(r.event, r.sink);
    const bytes = Buffer.byteLength(r.text, 'utf8') + 1;
    const t = eventTime(r.event);
    g.events++;
    g.bytes += bytes;
    this.events++;
    this.bytes += bytes;
    if (t === undefined) return;
    if (g.first === undefined || t < g.first) g.first = t;
    if (g.last === undefined || t > g.last) g.last = t;
    if (this.first === undefined || t < this.first) this.first = t;
    if (this.last === undefined || t > this.last) this.last = t;
    g.slots?.add(t, bytes);
    g.spark?.add(t, 0);
  }

  /** Every group, "(other)" last. */
  all(): Group[] {
    return this.other === undefined ? [...this.groups] : [...this.groups, this.other];
  }

  private newGroup(values: GroupValue[], other: boolean): Group {
    const { window, sparkline } = this.o;
    // Per-second window slots also serve the sparkline: the ring then holds at least a minute.
    const perSecond = window !== undefined && window.slotSeconds === 1;
    const slots =
      window === undefined
        ? undefined
        : new TimeSlots(
            perSecond && sparkline ? Math.max(window.slots, SPARK_SECONDS) : window.slots,
            window.slotSeconds * SECOND,
            true,
          );
    const spark = sparkline && !perSecond ? new TimeSlots(SPARK_SECONDS, SECOND, false) : undefined;
    return { values, other, events: 0, bytes: 0, first: undefined, last: undefined, slots, spark };
  }

  /** Events per second of the minute that ends with the second of `end` (µs), oldest first. */
  sparkline(g: Group, end: number): number[] | undefined {
    const ring = g.spark ?? (g.slots?.width === SECOND ? g.slots : undefined);
    return ring?.series(ring.slotOf(end), SPARK_SECONDS);
  }
}
