// ItemStream: a list printed item by item reads back as the document printObjects would print whole.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ItemStream, plainYaml, type StreamedFormat } from '../../src/ui/printers.js';
import { Output } from '../../src/ui/output.js';
import { captureIO } from '../harness/cli.js';

const ITEMS: Record<string, unknown>[] = [
  { name: 'a', n: 1, ok: true, none: null, list: ['x', 'y z'], empty: [] },
  {},
  { text: 'two\nlines', quoted: '- not a list', colon: 'a: b', number: '012', bool: 'true', hash: '#x' },
  { deep: { map: [{ in: 'a list' }] } },
];
const HEAD = { policy: 'p', events: 'e' };
const TAIL = { refusedCount: 0, summary: { total: { events: 3 } } };

function print(format: StreamedFormat, items = ITEMS): string {
  const c = captureIO();
  const s = new ItemStream<Record<string, unknown>>(Output.for(c.io), format, {
    head: HEAD,
    key: 'results',
    name: (i) => `item/${String(i.name)}`,
  });
  for (const i of items) s.add(i);
  s.end(TAIL);
  return c.stdout();
}

describe('ItemStream', () => {
  it.each([[ITEMS], [[]]])(
    'json is JSON.stringify(doc, null, 2) byte for byte; yaml reads back as the same document (%#)',
    (items) => {
      const doc = { ...HEAD, results: items, ...TAIL };
      expect(print('json', items)).toBe(`${JSON.stringify(doc, null, 2)}\n`);
      expect(parse(print('yaml', items))).toEqual(doc);
    },
  );

  it('yaml is what plainYaml writes of the whole, but for a string with line breaks: double-quoted on one line', () => {
    const doc = { ...HEAD, results: ITEMS, ...TAIL };
    expect(print('yaml')).toBe(plainYaml(doc).replace('text: |-\n      two\n      lines\n', 'text: "two\\nlines"\n'));
  });

  it('jsonl and name: one line an item', () => {
    expect(print('jsonl')).toBe(ITEMS.map((i) => `${JSON.stringify(i)}\n`).join(''));
    expect(print('name')).toBe('item/a\nitem/undefined\nitem/undefined\nitem/undefined\n');
  });
});
