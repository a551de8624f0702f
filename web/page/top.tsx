/** Who makes the events: top's groups as a table, and each group's rate over time as a uPlot chart. */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { getJson, isAbort } from './api';
import { cut, formatBytes } from './text';
import type { GroupKey, TopAnswer } from './types';
import { type Filters, filterQuery, splitValues } from './url';

const COLORS = ['#2f6fdf', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#0c8599', '#c92a2a', '#5c940d'];
const CHART_GROUPS = COLORS.length;

function keyText(by: string[], key: GroupKey): string {
  return by.map((b) => key[b] ?? '').join(' ');
}

function Chart(p: { answer: TopAnswer }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    const { t, groups } = p.answer.series;
    if (!el || t.length === 0) return;
    const step = t.length > 1 ? Math.max(1, t[1]! - t[0]!) : 1;
    const shown = groups.slice(0, CHART_GROUPS);
    const data: uPlot.AlignedData = [t, ...shown.map((g) => g.events.map((n) => n / step))];
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 260,
        series: [
          {},
          ...shown.map((g, i) => ({
            label: cut(keyText(p.answer.by, g.key), 60),
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
          })),
        ],
        axes: [{}, { label: 'events/s' }],
      },
      data,
      el,
    );
    return () => plot.destroy();
  }, [p.answer]);
  return <div class="chart" ref={box} />;
}

function Table(p: { answer: TopAnswer }) {
  const { by, rows } = p.answer;
  return (
    <table class="top-table">
      <thead>
        <tr>
          {by.map((b) => (
            <th key={b}>{cut(b, 30)}</th>
          ))}
          <th>events</th>
          <th>bytes</th>
          <th>share</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            {by.map((b) => (
              <td key={b}>{cut(r.key[b] ?? '', 120)}</td>
            ))}
            <td class="num">{r.events.toLocaleString('en')}</td>
            <td class="num">{formatBytes(r.bytes)}</td>
            <td class="num">{(r.share * 100).toFixed(1)}%</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function TopView(p: {
  filters: Filters;
  by: string;
  bucket: string;
  onChange: (by: string, bucket: string) => void;
}) {
  const [answer, setAnswer] = useState<TopAnswer | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const ac = new AbortController();
    const q = filterQuery(p.filters);
    q.set('by', splitValues(p.by).join(','));
    q.set('bucket', p.bucket);
    setError('');
    getJson<TopAnswer>(`/api/top?${q}`, ac.signal).then(setAnswer, (e: unknown) => {
      if (!isAbort(e)) setError(e instanceof Error ? e.message : String(e));
    });
    return () => ac.abort();
  }, [p.filters, p.by, p.bucket]);
  return (
    <section class="view top">
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>
          by <input name="by" value={p.by} onChange={(e) => p.onChange(e.currentTarget.value, p.bucket)} />
        </label>
        <label>
          bucket <input name="bucket" value={p.bucket} onChange={(e) => p.onChange(p.by, e.currentTarget.value)} />
        </label>
      </form>
      {error ? <p class="error">{error}</p> : null}
      {answer ? (
        <>
          <Chart answer={answer} />
          <Table answer={answer} />
        </>
      ) : null}
    </section>
  );
}
