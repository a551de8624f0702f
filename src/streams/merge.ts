import { type StoredEvent, timestampMicros } from '../audit/filter.js';
import type { StreamLine } from './follow.js';

/** A stored line read back as an audit event. */
export interface ReadEvent extends StreamLine {
  event: StoredEvent;
}

/**
 * Merges the sinks' events by time (request received, then stage time) while keeping each sink's
 * own order, as stored; stable, so equal times keep sink order. One sink's lines come out exactly
 * as its files hold them. An event without times sorts with the one before it in its sink.
 */
export function mergeOrder<T extends { sink: string; event: StoredEvent }>(items: readonly T[]): T[] {
  const bySink = new Map<string, { item: T; key: [number, number] }[]>();
  for (const item of items) {
    let list = bySink.get(item.sink);
    if (!list) bySink.set(item.sink, (list = []));
    const received = timestampMicros(item.event.requestReceivedTimestamp);
    const stageAt = timestampMicros(item.event.stageTimestamp);
    const key: [number, number] =
      received === undefined && stageAt === undefined
        ? (list.at(-1)?.key ?? [-Infinity, -Infinity])
        : [received ?? stageAt!, stageAt ?? received!];
    list.push({ item, key });
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
      if (b === undefined || head.key[0] < b.key[0] || (head.key[0] === b.key[0] && head.key[1] < b.key[1])) best = s;
    }
    if (best < 0) return merged;
    merged.push(lists[best]![at[best]!]!.item);
    at[best]!++;
  }
}
