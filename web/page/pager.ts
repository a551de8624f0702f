/**
 * The events matching the filters, newest first, loaded page by page as the list scrolls toward them (the server
 * pages with `before`), and followed live (new events on top). Kept as rows (rows.ts), not as events.
 */
import { getJson, isAbort } from './api';
import { type Row, toRow } from './rows';
import type { EventItem, EventsPage } from './types';
import { type Filters, filterQuery } from './url';

const FIRST_PAGE = 500;
const MAX_PAGE = 5000;
/** Start loading when the screen comes this close to the rows not loaded yet. */
const AHEAD = 200;

/** What else a page loads, with the same cursor and size (the policy view's verdicts). */
export type PageExtra = (
  before: string | null,
  limit: number,
  items: EventItem[],
  signal: AbortSignal,
) => Promise<void>;

export class Pager {
  rows: Row[] = [];
  total = 0;
  refused = 0;
  next: string | null = null;
  loading = false;
  done = false;
  error = '';
  private readonly abort = new AbortController();
  private source: EventSource | null = null;
  private pending: Row[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly recent = new Set<string>();
  /** The furthest row the list has shown: pages keep loading until they reach it. */
  private wanted = 0;

  constructor(
    private readonly filters: Filters,
    private readonly changed: (added: number) => void,
    private readonly extra?: PageExtra,
  ) {
    void this.load(null, FIRST_PAGE);
  }

  /** The list shows rows up to `last`: load the pages that reach past it. */
  want(last: number): void {
    this.wanted = Math.max(this.wanted, last);
    if (this.loading || this.done || this.next === null) return;
    if (this.wanted < this.rows.length - AHEAD) return;
    const limit = Math.min(MAX_PAGE, Math.max(FIRST_PAGE, this.wanted - this.rows.length + AHEAD));
    void this.load(this.next, limit);
  }

  private async load(before: string | null, limit: number): Promise<void> {
    this.loading = true;
    const q = filterQuery(this.filters);
    q.set('limit', String(limit));
    if (before !== null) q.set('before', before);
    try {
      const page = await getJson<EventsPage>(`/api/events?${q}`, this.abort.signal);
      if (this.extra) await this.extra(before, limit, page.items, this.abort.signal);
      for (const item of page.items) {
        this.rows.push(toRow(item));
        if (before === null) this.recent.add(item.id);
      }
      this.total = Math.max(page.total, this.rows.length);
      this.refused = page.refused;
      this.next = page.next;
      this.done = page.next === null;
      if (this.done) this.total = this.rows.length;
    } catch (e) {
      if (isAbort(e)) return;
      this.error = e instanceof Error ? e.message : String(e);
      this.done = true;
    }
    this.loading = false;
    this.changed(0);
    this.want(this.wanted);
  }

  /** New events as the server stores them (EventSource), put on top in batches. */
  follow(): void {
    if (this.source) return;
    const src = new EventSource(`/api/follow?${filterQuery(this.filters)}`);
    this.source = src;
    src.onmessage = (m: MessageEvent<string>) => {
      let item: EventItem;
      try {
        item = JSON.parse(m.data) as EventItem;
      } catch {
        return;
      }
      if (this.recent.has(item.id)) return;
      this.pending.push(toRow(item));
      this.flushTimer ??= setTimeout(() => this.flush(), 100);
    };
  }

  unfollow(): void {
    this.source?.close();
    this.source = null;
  }

  private flush(): void {
    this.flushTimer = null;
    const added = this.pending.reverse();
    this.pending = [];
    this.rows = added.concat(this.rows);
    this.total += added.length;
    this.recent.clear();
    this.changed(added.length);
  }

  close(): void {
    this.abort.abort();
    this.unfollow();
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
