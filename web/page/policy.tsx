/**
 * Policies: pick a preset, a policy file or `policy suggest`'s result; each event shows the rule it matches and the
 * level it would be recorded at, with the totals before and after as `policy test` prints them.
 */
import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks';
import { getJson } from './api';
import { RowCells, Status } from './events';
import { Pager } from './pager';
import { cut, formatBytes } from './text';
import { TreeNode } from './tree';
import type { PolicyAnswer, PolicyItem } from './types';
import { type Filters, filterQuery } from './url';
import { VirtualList } from './virtualList';

const ROW_HEIGHT = 24;

interface Count {
  events: number;
  bytes: number;
}

function isCount(v: unknown): v is Count {
  return typeof v === 'object' && v !== null && typeof (v as Count).events === 'number';
}

function Totals(p: { totals: unknown }) {
  const t = p.totals as { captured?: unknown; policy?: unknown };
  if (!isCount(t?.captured) || !isCount(t?.policy)) return <TreeNode name="totals" value={p.totals} open />;
  return (
    <table class="totals">
      <thead>
        <tr>
          <th />
          <th>events</th>
          <th>bytes</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th>before (as captured)</th>
          <td class="num">{t.captured.events.toLocaleString('en')}</td>
          <td class="num">{formatBytes(t.captured.bytes)}</td>
        </tr>
        <tr>
          <th>after (this policy)</th>
          <td class="num">{t.policy.events.toLocaleString('en')}</td>
          <td class="num">{formatBytes(t.policy.bytes)}</td>
        </tr>
      </tbody>
    </table>
  );
}

function Picker(p: { presets: string[]; policy: string; onPick: (policy: string) => void }) {
  const isFile = p.policy !== '' && p.policy !== 'suggest' && !p.policy.startsWith('preset:');
  return (
    <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
      <label>
        policy{' '}
        <select name="policy" value={isFile ? '' : p.policy} onChange={(e) => p.onPick(e.currentTarget.value)}>
          <option value="">(choose)</option>
          {p.presets.map((n) => (
            <option key={n} value={`preset:${n}`}>
              preset:{n}
            </option>
          ))}
          <option value="suggest">policy suggest</option>
        </select>
      </label>
      <label>
        or file{' '}
        <input
          name="policy-file"
          placeholder="/path/to/policy.yaml"
          value={isFile ? p.policy : ''}
          onChange={(e) => p.onPick(e.currentTarget.value.trim())}
        />
      </label>
    </form>
  );
}

export function PolicyView(p: {
  filters: Filters;
  policy: string;
  presets: string[];
  onPick: (policy: string) => void;
}) {
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const verdicts = useRef(new Map<string, PolicyItem>());
  const [totals, setTotals] = useState<unknown>(null);
  const [pager, setPager] = useState<Pager | null>(null);

  useEffect(() => {
    if (p.policy === '') return setPager(null);
    verdicts.current = new Map();
    setTotals(null);
    const g = new Pager(
      p.filters,
      () => redraw(0),
      async (before, limit, _items, signal) => {
        const q = filterQuery(p.filters);
        q.set('policy', p.policy);
        q.set('limit', String(limit));
        if (before !== null) q.set('before', before);
        const answer = await getJson<PolicyAnswer>(`/api/policy?${q}`, signal);
        for (const v of answer.items) verdicts.current.set(v.id, v);
        setTotals(answer.totals);
      },
    );
    setPager(g);
    return () => g.close();
  }, [p.filters, p.policy]);

  const onRange = useCallback((_: number, last: number) => pager?.want(last), [pager]);
  return (
    <section class="view policy">
      <Picker presets={p.presets} policy={p.policy} onPick={p.onPick} />
      {totals !== null ? <Totals totals={totals} /> : null}
      {pager ? <Status pager={pager} /> : <p>Pick a policy to judge these events by.</p>}
      {pager ? (
        <VirtualList
          label="verdicts"
          count={pager.total}
          rowHeight={ROW_HEIGHT}
          onRange={onRange}
          row={(i) => {
            const r = pager.rows[i];
            const v = r ? verdicts.current.get(r.id) : undefined;
            return (
              <div class="row verdict">
                <span class="cell rule">{v ? (v.rule === null ? 'no rule' : `rule ${v.rule}`) : ''}</span>
                <span class="cell plevel">{v ? cut(v.level, 20) : ''}</span>
                <span class="cell desc" title={v ? cut(v.description, 300) : ''}>
                  {v ? cut(v.description, 120) : ''}
                </span>
                <RowCells row={r} />
              </div>
            );
          }}
        />
      ) : null}
    </section>
  );
}
