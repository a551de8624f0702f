import { type StoredEvent, timestampMicros } from '../audit/filter.js';
import { LEVELS } from '../audit/model.js';

/** A stored line read back as an audit event. */
export interface ReadEvent {
  /** The sink whose stream it was read from (for a file the user gave: the file, as given). */
  sink: string;
  /** The file it was read from, by the name it had when opened: <streams>/default.log, audit.log. */
  file: string;
  /** 1-based line number in that file. */
  lineNo: number;
  /** The line as stored, without its newline (an event of an EventList: the event alone, as a log line). */
  text: string;
  event: StoredEvent;
  /** Every sink that holds this event, when read from several and shown once (SinkCopies); `sink` is the one whose copy this is. */
  sinks?: string[];
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
    if (!list) {
      list = [];
      bySink.set(item.sink, list);
    }
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

/** Copies of one request and stage remembered, to tell a later copy from a new event: the most recent ones. */
const COPIES_REMEMBERED = 50_000;

interface Copies {
  /** The copy shown, while its batch is being made (it may still be replaced by a richer one). */
  shown: ReadEvent | undefined;
  at: number;
  sinks: string[];
}

/**
 * Each request's stage once, however many sinks hold it. Several sinks get the same event from
 * the API server (or the receiver's one capture), each cut to its own level: of the copies read
 * together the one at the highest level is kept, in the place of the first, with `sinks` naming
 * them all. A copy read after its event was shown (a later poll while following) is dropped. Keyed
 * by auditID and stage within the last COPIES_REMEMBERED events, so memory stays bounded; a sink
 * that holds the same key twice (sent again, later than the receiver's own dedupe window) shows it
 * twice, as it stored it. An event without an auditID is always shown.
 */
export class SinkCopies {
  private readonly recent = new Map<string, Copies>();
  /**
   * Walks `recent` oldest first, held across calls: a Map keeps the slots of deleted keys until it
   * is rehashed, and a new iterator walked them all each time (20 µs an event at 50,000 remembered).
   */
  private oldest: Iterator<string> | undefined;

  constructor(private readonly remembered = COPIES_REMEMBERED) {}

  /** `batch` in merged order, each event once. */
  collapse(batch: readonly ReadEvent[]): ReadEvent[] {
    const out: ReadEvent[] = [];
    const made: Copies[] = [];
    for (const r of batch) {
      const { auditID, stage } = r.event;
      if (typeof auditID !== 'string' || auditID === '') {
        out.push(r);
        continue;
      }
      const key = `${auditID}\0${typeof stage === 'string' ? stage : ''}`;
      const seen = this.recent.get(key);
      if (seen !== undefined && !seen.sinks.includes(r.sink)) {
        seen.sinks.push(r.sink);
        if (seen.shown !== undefined && rank(r) > rank(seen.shown)) {
          out[seen.at] = r;
          seen.shown = r;
        }
        if (seen.shown !== undefined) seen.shown.sinks = seen.sinks;
        continue;
      }
      const copies = { shown: r, at: out.length, sinks: [r.sink] };
      made.push(copies);
      this.recent.delete(key);
      this.recent.set(key, copies);
      if (this.recent.size > this.remembered) this.forgetOldest();
      out.push(r);
    }
    // Shown once this returns: a later copy can no longer take the place of these.
    for (const c of made) c.shown = undefined;
    return out;
  }

  private forgetOldest(): void {
    // Keys are only added at the end (a key set again is deleted first), so the walk's next key is the oldest.
    let next = this.oldest?.next();
    if (next === undefined || next.done === true) {
      this.oldest = this.recent.keys();
      next = this.oldest.next();
    }
    if (next.done !== true) this.recent.delete(next.value);
  }
}

const rank = (r: ReadEvent) => LEVELS.indexOf(r.event.level as (typeof LEVELS)[number]);
