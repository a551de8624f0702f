/**
 * An event as a collapsible tree, drawn lazily: a node's children are made only when it is opened, so a 10,000-deep
 * object costs one level on load and one more per click, never a recursion as deep as the data. Objects with many
 * keys show them a page at a time; long strings are cut until asked for whole. Every value is a text node.
 */
import { useState } from 'preact/hooks';
import { cut, visible } from './text';

const PAGE = 200;
const SHORT = 2000;

function summary(v: unknown): string {
  if (Array.isArray(v)) return `[${v.length}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).length}}`;
  return '';
}

function Leaf(p: { value: unknown }) {
  const [whole, setWhole] = useState(false);
  const v = p.value;
  if (typeof v !== 'string') return <span class={`val ${v === null ? 'null' : typeof v}`}>{String(v)}</span>;
  if (v.length <= SHORT || whole) return <span class="val string">"{visible(v)}"</span>;
  return (
    <span class="val string">
      "{cut(v, SHORT)}"{' '}
      <button type="button" class="more" onClick={() => setWhole(true)}>
        show all {v.length.toLocaleString('en')} chars
      </button>
    </span>
  );
}

export function TreeNode(p: { name: string; value: unknown; open?: boolean }) {
  const [open, setOpen] = useState(p.open ?? false);
  const [shown, setShown] = useState(PAGE);
  const v = p.value;
  const branch = v !== null && typeof v === 'object';
  const label = <span class="key">{visible(p.name)}</span>;
  if (!branch) {
    return (
      <div class="node leaf">
        {label}: <Leaf value={v} />
      </div>
    );
  }
  const entries = open ? Object.entries(v as Record<string, unknown>) : [];
  return (
    <div class="node">
      <button type="button" class="toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? '▾' : '▸'} {label} <span class="summary">{summary(v)}</span>
      </button>
      {open ? (
        <div class="children">
          {entries.slice(0, shown).map(([k, c]) => (
            <TreeNode key={k} name={k} value={c} />
          ))}
          {entries.length > shown ? (
            <button type="button" class="more" onClick={() => setShown(shown + PAGE)}>
              {(entries.length - shown).toLocaleString('en')} more…
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The top level of an event, open, with the fields its sink's level leaves out marked. */
export function EventTree(p: { event: Record<string, unknown>; absent?: { field: string; why: string }[] }) {
  return (
    <div class="tree">
      {Object.entries(p.event).map(([k, v]) => (
        <TreeNode key={k} name={k} value={v} />
      ))}
      {(p.absent ?? []).map((a) => (
        <div key={a.field} class="node absent">
          <span class="key">{a.field}</span>: <span class="omitted">absent: {a.why}</span>
        </div>
      ))}
    </div>
  );
}
