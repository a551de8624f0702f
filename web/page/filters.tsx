/** The filters bar: tail's filters, one field each (values separated by commas, as a flag repeated). */
import { FILTER_KEYS, type FilterKey, type Filters, splitValues } from './url';

const HINTS: Record<FilterKey, string> = {
  verb: 'get, list…',
  user: 'system:…',
  namespace: 'default',
  resource: 'pods, deploy',
  code: '403, 4xx',
  stage: 'ResponseComplete',
  sink: 'default',
  since: '10m, RFC 3339',
};

export function FilterBar(p: { filters: Filters; onChange: (f: Filters) => void }) {
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()}>
      {FILTER_KEYS.map((k) => (
        <label key={k}>
          <span>{k}</span>
          <input
            name={k}
            type="text"
            spellcheck={false}
            autocomplete="off"
            placeholder={HINTS[k]}
            value={p.filters[k].join(', ')}
            onChange={(e) =>
              p.onChange({ ...p.filters, [k]: splitValues((e.currentTarget as HTMLInputElement).value) })
            }
          />
        </label>
      ))}
    </form>
  );
}
