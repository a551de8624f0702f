/**
 * The page's state in its URL: the view, the filters (tail's flags, same names and values, repeated), and each view's
 * own settings, so a view can be bookmarked. Filters change the URL with history.replaceState; a change of view pushes.
 */

export const FILTER_KEYS = ['verb', 'user', 'namespace', 'resource', 'code', 'stage', 'sink', 'since'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Record<FilterKey, string[]>;

export const VIEWS = ['events', 'request', 'top', 'policy'] as const;
export type View = (typeof VIEWS)[number];

export interface PageState {
  view: View;
  filters: Filters;
  /** Events: follow new events as they are stored. */
  follow: boolean;
  /** Request: the auditID. */
  id: string;
  /** Top: the --by keys, comma-separated, and the chart's bucket. */
  by: string;
  bucket: string;
  /** Policy: preset:NAME, a file path, or suggest. */
  policy: string;
}

export const DEFAULT_BY = 'user,verb,resource';
export const DEFAULT_BUCKET = '10s';

export function emptyFilters(): Filters {
  return { verb: [], user: [], namespace: [], resource: [], code: [], stage: [], sink: [], since: [] };
}

export function parseState(search: string): PageState {
  const q = new URLSearchParams(search);
  const filters = emptyFilters();
  for (const k of FILTER_KEYS) filters[k] = q.getAll(k).filter((v) => v !== '');
  const view = q.get('view') ?? 'events';
  return {
    view: (VIEWS as readonly string[]).includes(view) ? (view as View) : 'events',
    filters,
    follow: q.get('follow') !== '0',
    id: q.get('id') ?? '',
    by: q.get('by') || DEFAULT_BY,
    bucket: q.get('bucket') || DEFAULT_BUCKET,
    policy: q.get('policy') ?? '',
  };
}

/** The filters as the API takes them (and tail's flags: each value repeated). */
export function filterQuery(f: Filters): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) for (const v of f[k]) q.append(k, v);
  return q;
}

export function stateQuery(s: PageState): string {
  const q = new URLSearchParams({ view: s.view });
  for (const [k, v] of filterQuery(s.filters)) q.append(k, v);
  if (s.view === 'events' && !s.follow) q.set('follow', '0');
  if (s.view === 'request') q.set('id', s.id);
  if (s.view === 'top') {
    if (s.by !== DEFAULT_BY) q.set('by', s.by);
    if (s.bucket !== DEFAULT_BUCKET) q.set('bucket', s.bucket);
  }
  if (s.view === 'policy' && s.policy !== '') q.set('policy', s.policy);
  return `?${q.toString()}`;
}

/** A filter field's text (values joined by commas) back into values. */
export function splitValues(text: string): string[] {
  return text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
