/**
 * Progress of the cluster work (src/cluster/steps.ts) drawn with Output: spinners, notes, and with
 * --verbose every tool line and the time of each step.
 */
import { escapeText } from './escape.js';
import { type FindingLine, printFindings } from './findings.js';
import type { Output, Spinner } from './output.js';

export class OutputProgress {
  private spin: Spinner | null = null;
  private readonly times: [string, number][] = [];

  constructor(
    private readonly out: Output,
    private readonly verbose = false,
  ) {}

  async start(text: string): Promise<void> {
    this.spin = await this.out.spinner(text);
  }

  update(text: string): void {
    this.spin?.update(text);
  }

  succeed(text?: string): void {
    this.spin?.succeed(text);
    this.spin = null;
  }

  fail(text?: string): void {
    this.spin?.fail(text);
    this.spin = null;
  }

  info(text: string): void {
    this.out.info(text);
  }

  warn(text: string): void {
    this.out.warn(text);
  }

  toolLine(line: string): void {
    if (this.verbose) this.out.info(`  ${escapeText(line)}`);
  }

  /** Problems always; with --verbose what passed too. */
  findings(findings: readonly FindingLine[]): void {
    const shown = this.verbose ? findings : findings.filter((f) => f.status !== 'ok');
    if (shown.length > 0) printFindings(this.out, shown, true);
  }

  stepTime(title: string, ms: number): void {
    this.times.push([title, ms]);
    if (this.verbose) this.out.info(this.out.style.dim(`  [${title}: ${(ms / 1000).toFixed(1)}s]`));
  }

  /** --verbose: the time of each step and the total. */
  printTimes(): void {
    if (!this.verbose || this.times.length === 0) return;
    const width = Math.max(...this.times.map(([l]) => l.length));
    const total = this.times.reduce((a, [, ms]) => a + ms, 0);
    this.out.info('timings:');
    for (const [l, ms] of this.times) this.out.info(`  ${l.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)}s`);
    this.out.info(`  ${'total'.padEnd(width)}  ${(total / 1000).toFixed(1).padStart(6)}s`);
  }
}
