/**
 * A list that draws only the rows on screen (plus a few either side): the DOM holds a few dozen rows whether there are
 * ten events or a million. Rows have one fixed height; the scrolled space is `count` rows tall.
 */
import type { ComponentChildren, RefObject } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

const OVERSCAN = 8;

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  row: (index: number) => ComponentChildren;
  /** Told the range of rows on screen after each scroll or resize (to load what is missing). */
  onRange?: (first: number, last: number) => void;
  scrollRef?: RefObject<HTMLDivElement | null>;
  label: string;
}

export function VirtualList(p: VirtualListProps) {
  const own = useRef<HTMLDivElement>(null);
  const ref = p.scrollRef ?? own;
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setHeight(el.clientHeight || 600);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);

  const first = Math.max(0, Math.floor(top / p.rowHeight) - OVERSCAN);
  const last = Math.min(p.count, Math.ceil((top + height) / p.rowHeight) + OVERSCAN);
  useEffect(() => p.onRange?.(first, last), [first, last, p.count, p.onRange]);

  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div key={i} class="vrow" style={{ top: `${i * p.rowHeight}px`, height: `${p.rowHeight}px` }}>
        {p.row(i)}
      </div>,
    );
  }
  return (
    <div
      class="vlist"
      ref={ref}
      data-list={p.label}
      data-count={p.count}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="vspace" style={{ height: `${p.count * p.rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
