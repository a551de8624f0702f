/**
 * The --file reader's memory does not grow with a document's size: large pretty-printed documents
 * are read through the built CLI in a child whose V8 heap is capped well below what holding a
 * document whole would take, so a reader that holds one dies of heap exhaustion there.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_DOCUMENT_CHARS } from '../../src/streams/jsonDocument.js';
import { type CliResult, runProcess } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';
import { writeBigDocument } from './logs.js';

/**
 * The child's old-space limit. `top` reading a line-per-event log needs about 20 MiB of it; one
 * 40 MiB document held whole, with the events parsed from it, needs several times 64.
 */
const HEAP_MIB = 64;

/** `top --file ... -o json` in a child with the capped heap: it only counts, so what it holds is the reader's. */
async function topUnderCap(files: string[]): Promise<{ r: CliResult; events: number }> {
  const home = join(await testDir(), 'home');
  const r = await runProcess(['top', '--file', ...files, '-o', 'json'], {
    env: { AUDIT_LAB_HOME: home, NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` },
  });
  let events = -1;
  if (r.stdout !== '') events = (JSON.parse(r.stdout) as { totals: { events: number } }).totals.events;
  return { r, events };
}

describe('--file documents of tens of MiB, in a heap of 64 MiB', () => {
  it('a jq -S EventList (items before kind) and a JSON array of Events, merged by time: every event counted', async () => {
    const dir = await testDir();
    const sorted = join(dir, 'sorted.json');
    const array = join(dir, 'array.json');
    // Interleaved in time, so the merge reads both at once.
    const n =
      (await writeBigDocument(sorted, 'sorted', 40, { prefix: 's', startMs: 0, stepMs: 2 })) +
      (await writeBigDocument(array, 'array', 40, { prefix: 'a', startMs: 1, stepMs: 2 }));
    const { r, events } = await topUnderCap([sorted, array]);
    expect(r.stderr.includes('heap out of memory'), 'the reader ran out of heap').toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(events).toBe(n);
  });

  it('a document that cannot be read item by item (items before apiVersion) is refused past the limit, not held; the next file is read', async () => {
    const dir = await testDir();
    const big = join(dir, 'big.json');
    const small = join(dir, 'small.json');
    await writeBigDocument(big, 'itemsFirst', 40, { prefix: 'b', startMs: 0, stepMs: 2 });
    const n = await writeBigDocument(small, 'sorted', 1, { prefix: 's', startMs: 1, stepMs: 2 });
    const { r, events } = await topUnderCap([big, small]);
    expect(r.stderr.includes('heap out of memory'), 'the reader ran out of heap').toBe(false);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`big.json:1: a JSON document longer than ${MAX_DOCUMENT_CHARS / 1024 / 1024} MiB`);
    expect(events).toBe(n);
  });
});
