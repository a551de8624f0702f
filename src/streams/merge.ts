import { type StoredEvent, timestampMicros } from '../audit/filter.js';
import type { StreamLine } from './follow.js';

/** A stored line read back as an audit event. */
export interface ReadEvent extends StreamLine {
  event: StoredEvent;
}

/** Where an event sorts: when the request was received, then the stage's time. */
export type TimeKey = readonly [number, number];

/** Before everything: the key of an untimed event at the start of its stream. */
export const EARLIEST: TimeKey = [-Infinity, -Infinity];

/**
 * An event's merge key (request received, then stage time); an event without times sorts with the
 * one before it in its stream (`previous`).
 */
export function timeKey(event: StoredEvent, previous: TimeKey): TimeKey {
  const received = timestampMicros(event.requestReceivedTimestamp);
  const stageAt = timestampMicros(event.stageTimestamp);
  if (received === undefined && stageAt === undefined) return previous;
  return [received ?? stageAt!, stageAt ?? received!];
}

/** a before b. */
export const keyBefore = (a: TimeKey, b: TimeKey) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * Merges the sinks' events by time (request received, then stage time) while keeping each sink's
 * own order, as stored; stable, so equal times keep sink order. One sink's lines come out exactly
 * as its files hold them. An event without times sorts with the one before it in its sink.
 */
export function mergeOrder<T extends { sink: string; event: StoredEvent }>(items: readonly T[]): T[] {
  const bySink = new Map<string, { item: T; key: TimeKey }[]>();
  for (const item of items) {
    let list = bySink.get(item.sink);
    if (!list) bySink.set(item.sink, (list = []));
    list.push({ item, key: timeKey(item.event, list.at(-1)?.key ?? EARLIEST) });
  }
  const lists = [...bySink.values()];
  const at = lists.map(() => 0);
  const merged: T[] = [];
  for (;;) {
    let best = -1;
    for (let s = 0; s < lists.length; s++) {
      const head = lists[s]![at[s]!];
      if (head === undefined) continue;
      const b = best >= 0 ? lists[best]![at[best]!]! : undefined;
      if (b === undefined || keyBefore(head.key, b.key)) best = s;
    }
    if (best < 0) return merged;
    merged.push(lists[best]![at[best]!]!.item);
    at[best]!++;
  }
}
