/** The step runner (src/cluster/steps.ts): lock holds, skipped steps, and what a dry run describes. */
import { expect, test } from 'vitest';
import type { Finding } from '../../src/cluster/checks.js';
import { describeSteps, type Progress, runSteps, type Step } from '../../src/cluster/steps.js';

interface Ctx {
  log: string[];
  made: boolean;
}

const STEPS: Step<Ctx>[] = [
  { title: 'look', describe: () => [{ command: ['tool', 'look'] }], run: async (c) => void c.log.push('look') },
  {
    title: 'make',
    locked: true,
    when: (c) => !c.made,
    describe: () => [{ command: ['tool', 'make'] }],
    run: async (c) => void c.log.push('make'),
    supposes: () => ({ made: true }),
  },
  {
    title: 'remake',
    locked: true,
    when: (c) => c.made,
    describe: () => [{ note: 'remake' }],
    run: async (c) => void c.log.push('remake'),
  },
  {
    title: 'write',
    locked: true,
    describe: () => [{ file: '/lab/x', content: 'x' }],
    run: async (c) => void c.log.push('write'),
  },
  { title: 'serve', describe: () => [], run: async (c) => void c.log.push('serve') },
];

function recorder(): Progress & { times: string[] } {
  const times: string[] = [];
  const none = () => {};
  return {
    times,
    start: async () => {},
    update: none,
    succeed: none,
    fail: none,
    info: none,
    warn: none,
    toolLine: none,
    findings: (_: readonly Finding[]) => {},
    stepTime: (t) => void times.push(t),
  };
}

test('consecutive locked steps share one hold of the lock; a step whose condition fails neither runs nor is timed', async () => {
  const ctx: Ctx = { log: [], made: false };
  const progress = recorder();
  await runSteps(STEPS, ctx, progress, async (fn) => {
    ctx.log.push('lock');
    try {
      return await fn();
    } finally {
      ctx.log.push('unlock');
    }
  });
  expect(ctx.log).toEqual(['look', 'lock', 'make', 'write', 'unlock', 'serve']);
  expect(progress.times).toEqual(['look', 'make', 'write', 'serve']);
});

test('a dry run describes the steps that apply, each seeing what the ones before it would have done', () => {
  const plan = describeSteps(STEPS, { log: [], made: false });
  expect(plan.map((s) => s.title)).toEqual(['look', 'make', 'remake', 'write', 'serve']);
  expect(plan[1]!.planned).toEqual([{ command: ['tool', 'make'] }]);
});

interface Facts {
  found: string | null;
  gone: boolean;
}

const FACT_STEPS: Step<Facts & { log: string[] }, Facts>[] = [
  {
    title: 'find',
    describe: () => [{ command: ['tool', 'find'] }],
    run: async () => ({ found: 'it' }),
    supposes: () => ({ found: '<found>' }),
  },
  {
    title: 'use',
    describe: (c) => [{ command: ['tool', 'use', c.found!] }],
    run: async (c) => void c.log.push(`use ${c.found}`),
  },
  {
    title: 'remove',
    when: (c) => !c.gone,
    describe: () => [{ command: ['tool', 'rm'] }],
    run: async (c) => void c.log.push('rm'),
    makes: { gone: true },
  },
  {
    title: 'again',
    when: (c) => !c.gone,
    describe: () => [{ command: ['tool', 'rm'] }],
    run: async (c) => void c.log.push('rm again'),
  },
];

test('what a step returns, and what it always makes, are the input of the steps after it', async () => {
  const ctx = { log: [] as string[], found: null, gone: false };
  await runSteps(FACT_STEPS, ctx, recorder(), async (fn) => fn());
  expect(ctx).toEqual({ log: ['use it', 'rm'], found: 'it', gone: true });
});

test('a dry run takes what a step supposes and what it makes, and runs nothing', () => {
  const ctx = { log: [] as string[], found: null, gone: false };
  const plan = describeSteps(FACT_STEPS, ctx);
  expect(plan.map((s) => s.title)).toEqual(['find', 'use', 'remove']);
  expect(plan[1]!.planned).toEqual([{ command: ['tool', 'use', '<found>'] }]);
  expect(ctx.log).toEqual([]);
});
