/** The events view: every stored event matching the filters, newest first, following new ones; a row opens its request. */
import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks';
import { Pager } from './pager';
import { type Row, timeOfDay } from './rows';
import type { Filters } from './url';
import { VirtualList } from './virtualList';

export const ROW_HEIGHT = 24;

export function RowCells(p: { row: Row | undefined }) {
  const r = p.row;
  if (!r) return <span class="cell loading">…</span>;
  return (
    <>
      <span class="cell time" title={r.time}>
        {timeOfDay(r.time)}
      </span>
      <span class="cell stage">{r.stage}</span>
      <span class="cell verb">{r.verb}</span>
      <span class="cell code">{r.code}</span>
      <span class="cell user">{r.user}</span>
      <span class="cell resource">{r.resource}</span>
      <span class="cell ns">{r.namespace}</span>
      <span class="cell name">{r.name}</span>
      <span class="cell sink">{r.sink}</span>
      <span class="cell uri">{r.uri}</span>
    </>
  );
}

export function Status(p: { pager: Pager; following?: boolean }) {
  const g = p.pager;
  return (
    <div class="status" role="status">
      <span class="count">
        {g.total.toLocaleString('en')} event{g.total === 1 ? '' : 's'}
      </span>
      {g.rows.length < g.total ? <span> ({g.rows.length.toLocaleString('en')} loaded)</span> : null}
      {g.refused > 0 ? <span class="warn"> · {g.refused} line(s) refused (not audit events)</span> : null}
      {g.loading ? <span> · loading…</span> : null}
      {p.following ? <span class="live"> · following</span> : null}
      {g.error ? <span class="error"> · {g.error}</span> : null}
    </div>
  );
}

export function EventsView(p: {
  filters: Filters;
  follow: boolean;
  onFollow: (on: boolean) => void;
  onOpen: (auditID: string) => void;
}) {
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const scroller = useRef<HTMLDivElement>(null);
  const [pager, setPager] = useState<Pager | null>(null);

  useEffect(() => {
    const g = new Pager(p.filters, (added) => {
      const el = scroller.current;
      // Newest first: a reader scrolled down keeps their rows in place as new ones arrive on top.
      if (added > 0 && el && el.scrollTop > 0) el.scrollTop += added * ROW_HEIGHT;
      redraw(0);
    });
    setPager(g);
    if (scroller.current) scroller.current.scrollTop = 0;
    return () => g.close();
  }, [p.filters]);

  useEffect(() => {
    if (!pager) return;
    if (p.follow) pager.follow();
    else pager.unfollow();
  }, [pager, p.follow]);

  const onRange = useCallback((_: number, last: number) => pager?.want(last), [pager]);
  if (!pager) return null;
  return (
    <section class="view events">
      <div class="toolbar">
        <label>
          <input
            type="checkbox"
            name="follow"
            checked={p.follow}
            onChange={(e) => p.onFollow(e.currentTarget.checked)}
          />{' '}
          follow
        </label>
        <Status pager={pager} following={p.follow} />
      </div>
      <div class="head row">
        <RowCells
          row={{
            id: '',
            auditID: '',
            time: 'time',
            stage: 'stage',
            verb: 'verb',
            code: 'code',
            user: 'user',
            resource: 'resource',
            namespace: 'namespace',
            name: 'name',
            sink: 'sink',
            uri: 'requestURI',
          }}
        />
      </div>
      <VirtualList
        label="events"
        count={pager.total}
        rowHeight={ROW_HEIGHT}
        scrollRef={scroller}
        onRange={onRange}
        row={(i) => {
          const r = pager.rows[i];
          return (
            <button type="button" class="row" disabled={!r} onClick={() => r && p.onOpen(r.auditID)}>
              <RowCells row={r} />
            </button>
          );
        }}
      />
    </section>
  );
}
