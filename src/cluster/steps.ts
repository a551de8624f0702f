/**
 * The cluster work as ordered steps, after kind's create actions: each step says what it would do
 * (`describe`, for --dry-run) from the same data and argv builders its `run` uses, and reports
 * through a Progress the command layer draws. Nothing here prints.
 */
import type { Finding } from './checks.js';

/** One thing a step would do: run a command, write a file (with its content when known), or a note. */
export type Planned = { command: readonly string[] } | { file: string; content?: string } | { note: string };

export interface Step<C> {
  title: string;
  /** Whether the step applies; it reads what earlier steps found (in a dry run: assumed). */
  when?: (ctx: C) => boolean;
  /** Runs holding the lab lock; consecutive locked steps share one hold. */
  locked?: boolean;
  describe(ctx: C): Planned[];
  run(ctx: C): Promise<void>;
  /** What running the step would have changed, so the steps after it describe what follows it. */
  assume?: (ctx: C) => void;
}

/** How the cluster work tells the user how it goes; the commands implement it over ui/output. */
export interface Progress {
  /** A long piece of work begins (a spinner on a terminal); ended by succeed or fail. */
  start(text: string): Promise<void>;
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  info(text: string): void;
  warn(text: string): void;
  /** A line a tool printed as it ran (kind's own progress). */
  toolLine(line: string): void;
  /** The checks' findings; failures stop the work. */
  findings(findings: readonly Finding[]): void;
  /** A step ended (or failed) after this long. */
  stepTime(title: string, ms: number): void;
}

/** Runs a step as one long piece of work: started, then succeeded or failed, whatever `fn` throws. */
export async function task<T>(progress: Progress, text: string, fn: () => Promise<T>, done?: string): Promise<T> {
  await progress.start(text);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    progress.fail();
    throw err;
  }
  progress.succeed(done);
  return result;
}

export type Lock = <T>(fn: () => Promise<T>) => Promise<T>;

export async function runSteps<C>(steps: readonly Step<C>[], ctx: C, progress: Progress, lock: Lock): Promise<void> {
  const one = async (step: Step<C>) => {
    if (step.when && !step.when(ctx)) return;
    const start = Date.now();
    try {
      await step.run(ctx);
    } finally {
      progress.stepTime(step.title, Date.now() - start);
    }
  };
  for (let i = 0; i < steps.length; ) {
    if (!steps[i]!.locked) {
      await one(steps[i++]!);
      continue;
    }
    let j = i;
    while (j < steps.length && steps[j]!.locked) j++;
    const group = steps.slice(i, j);
    await lock(async () => {
      for (const s of group) await one(s);
    });
    i = j;
  }
}

/** The steps a run would take from what ctx knows or assumes, each with what it would do. */
export function describeSteps<C>(steps: readonly Step<C>[], ctx: C): { title: string; planned: Planned[] }[] {
  const out: { title: string; planned: Planned[] }[] = [];
  for (const step of steps) {
    if (step.when && !step.when(ctx)) continue;
    out.push({ title: step.title, planned: step.describe(ctx) });
    step.assume?.(ctx);
  }
  return out;
}
