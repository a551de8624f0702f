/**
 * The cluster work as ordered steps, after kind's create actions: each step says what it would do
 * (`describe`, for --dry-run) from the same data and argv builders its `run` uses, and reports
 * through a Progress the command layer draws. Nothing here prints.
 *
 * A step reads what it is given and what the steps before it found (its context `C`), and returns
 * what it found or made as facts (`Partial<F>`), which the runner adds to the context for the steps
 * after it. A dry run runs nothing, so a step whose facts later steps read says what a dry run takes
 * them to be: `makes` when they are the same either way, `supposes` when only running tells.
 */
import type { Finding } from './checks.js';
import { commandLine } from '../tools/run.js';

/** One thing a step would do: run a command, write a file (with its content when known), or a note. */
export type Planned = { command: readonly string[] } | { file: string; content?: string } | { note: string };

export interface Step<C extends F, F extends object = C> {
  title: string;
  /** Whether the step applies; it reads what earlier steps found (in a dry run: supposed). */
  when?: (ctx: Readonly<C>) => boolean;
  /** Runs holding the lab lock; consecutive locked steps share one hold. */
  locked?: boolean;
  describe(ctx: Readonly<C>): Planned[];
  /** Does the step; what it returns is the later steps' input. */
  run(ctx: Readonly<C>): Promise<Partial<F> | void>;
  /** Facts the step always makes (run, they are added to what it returns; dry run, they are all). */
  makes?: Partial<F>;
  /** For a dry run: the facts running would find, as the plan supposes them. */
  supposes?: (ctx: Readonly<C>) => Partial<F>;
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

/** No lock: for work on a lab that is not there (nothing to hold). */
export const unlocked: Lock = (fn) => fn();

export async function runSteps<C extends F, F extends object>(
  steps: readonly Step<C, F>[],
  ctx: C,
  progress: Pick<Progress, 'stepTime'>,
  lock: Lock,
): Promise<void> {
  const one = async (step: Step<C, F>) => {
    if (step.when && !step.when(ctx)) return;
    const start = Date.now();
    try {
      const facts = await step.run(ctx);
      Object.assign(ctx, facts, step.makes);
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

export interface PlannedStep {
  title: string;
  planned: Planned[];
}

/** The steps a run would take from what ctx knows or supposes, each with what it would do. */
export function describeSteps<C extends F, F extends object>(steps: readonly Step<C, F>[], ctx: C): PlannedStep[] {
  const out: PlannedStep[] = [];
  for (const step of steps) {
    if (step.when && !step.when(ctx)) continue;
    out.push({ title: step.title, planned: step.describe(ctx) });
    Object.assign(ctx, step.supposes?.(ctx), step.makes);
  }
  return out;
}

/** The plan as --dry-run prints its commands: `# title`, then `$ command`, `#   write FILE` or `#   note`. */
export function planLines(steps: readonly PlannedStep[]): string[] {
  const lines: string[] = [];
  for (const { title, planned } of steps) {
    lines.push(`# ${title}`);
    for (const p of planned) {
      if ('command' in p) lines.push(`$ ${commandLine(p.command)}`);
      else if ('file' in p) lines.push(`#   write ${p.file}`);
      else lines.push(`#   ${p.note}`);
    }
  }
  return lines;
}
