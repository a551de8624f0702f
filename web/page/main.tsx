/** The page of `audit-lab ui`: its views, switched and configured through the URL. */
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api';
import { EventsView } from './events';
import { PolicyView } from './policy';
import { RequestView } from './request';
import { cut } from './text';
import { TopView } from './top';
import type { Meta } from './types';
import { FilterBar } from './filters';
import { type PageState, parseState, stateQuery, type View } from './url';

function MetaLine(p: { meta: Meta | null }) {
  const m = p.meta;
  if (!m) return null;
  const what =
    m.source === 'lab' ? `lab ${cut(m.lab ?? '', 80)}` : `files ${m.files.map((f) => cut(f, 200)).join(', ')}`;
  return (
    <span class="meta">
      {what}
      {m.mode ? ` · ${m.mode} mode` : ''} · sinks: {m.sinks.map((s) => `${cut(s.name, 60)} (${s.level})`).join(', ')}
    </span>
  );
}

const TABS: [View, string][] = [
  ['events', 'Events'],
  ['top', 'Top'],
  ['policy', 'Policy'],
];

function App() {
  const [state, setState] = useState<PageState>(() => parseState(location.search));
  const [meta, setMeta] = useState<Meta | null>(null);

  useEffect(() => {
    getJson<Meta>('/api/meta').then(setMeta, () => setMeta(null));
    const onPop = () => setState(parseState(location.search));
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  /** A change within a view replaces the URL; going to another view pushes it (back returns). */
  const go = (next: PageState) => {
    const url = stateQuery(next);
    if (next.view !== state.view || next.id !== state.id) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
    setState(next);
  };

  return (
    <main>
      <header>
        <strong>audit-lab</strong>
        <nav>
          {TABS.map(([v, label]) => (
            <button
              key={v}
              type="button"
              class={state.view === v ? 'tab active' : 'tab'}
              aria-current={state.view === v ? 'page' : undefined}
              onClick={() => go({ ...state, view: v })}
            >
              {label}
            </button>
          ))}
          {state.view === 'request' ? <span class="tab active">Request</span> : null}
        </nav>
        <MetaLine meta={meta} />
      </header>
      {state.view !== 'request' ? (
        <FilterBar filters={state.filters} onChange={(filters) => go({ ...state, filters })} />
      ) : null}
      {state.view === 'events' ? (
        <EventsView
          filters={state.filters}
          follow={state.follow}
          onFollow={(follow) => go({ ...state, follow })}
          onOpen={(id) => go({ ...state, view: 'request', id })}
        />
      ) : null}
      {state.view === 'request' ? <RequestView id={state.id} /> : null}
      {state.view === 'top' ? (
        <TopView
          filters={state.filters}
          by={state.by}
          bucket={state.bucket}
          onChange={(by, bucket) => go({ ...state, by, bucket })}
        />
      ) : null}
      {state.view === 'policy' ? (
        <PolicyView
          filters={state.filters}
          policy={state.policy}
          presets={meta?.presets ?? []}
          onPick={(policy) => go({ ...state, policy })}
        />
      ) : null}
    </main>
  );
}

render(<App />, document.getElementById('app')!);
