/**
 * All printing goes through here: chalk and ora behind injectable streams. No colour and no
 * spinner off a TTY or with NO_COLOR; machine output (--json, -o jsonl) is written raw with
 * `data()` and never decorated.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { type IO, type OutStream, terminalWidth } from '../io.js';
import { escapeLines, escapeText } from './escape.js';
import { wrapLines } from './width.js';

export interface Spinner {
  /** Replaces the spinner's text (e.g. the latest progress line of a long step). */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
}

export class Output {
  readonly color: boolean;
  readonly interactive: boolean;
  readonly style: ChalkInstance;
  /** Colour for what goes to stderr (notes, summaries): decided by stderr, not by where stdout goes. */
  readonly errStyle: ChalkInstance;
  /** What stdout's and stderr's lines are fitted to (terminalWidth). */
  readonly width: number | undefined;
  readonly errWidth: number | undefined;

  constructor(
    readonly stdout: OutStream,
    readonly stderr: OutStream,
    env: NodeJS.ProcessEnv,
  ) {
    const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
    this.color = Boolean(stdout.isTTY) && !noColor && env.TERM !== 'dumb';
    // A terminal that reports 0 columns (a pseudo-terminal with no size) sends ora into a loop.
    const hasWidth = stderr.columns === undefined || stderr.columns > 0;
    this.interactive = Boolean(stderr.isTTY) && hasWidth && !noColor && env.TERM !== 'dumb' && !env.CI;
    this.style = new Chalk({ level: this.color ? 1 : 0 });
    this.errStyle = new Chalk({ level: stderr.isTTY === true && !noColor && env.TERM !== 'dumb' ? 1 : 0 });
    this.width = terminalWidth(stdout, env);
    this.errWidth = terminalWidth(stderr, env);
  }

  static for(io: IO): Output {
    return new Output(io.stdout, io.stderr, io.env);
  }

  /** Machine or primary output, exactly as given. */
  data(text: string): void {
    this.stdout.write(text);
  }

  /**
   * Resolves once stdout has taken what was written. A pipe is written asynchronously: whatever
   * its reader has not taken yet is held in memory, so a long listing waits here between batches.
   */
  drained(): Promise<void> {
    const s = this.stdout;
    if (s.writableNeedDrain !== true || s.once === undefined) return Promise.resolve();
    return new Promise((resolve) => s.once!('drain', resolve));
  }

  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** Progress and notes: stderr, so stdout stays clean for pipes. */
  info(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  /** A note of ours for the person at the terminal (what it waits for, what keeps running): dim, on stderr, wrapped to its width. */
  note(text: string): void {
    this.info(this.errStyle.dim(wrapLines(text, this.errWidth)));
  }

  /** A warning of ours, which may quote untrusted text (a file name, a tool's output): escaped. */
  warn(text: string): void {
    const s = new Chalk({ level: this.interactive ? 1 : 0 });
    this.stderr.write(`${s.yellow('warning:')} ${wrapLines(escapeLines(text), this.errWidth, 'warning: '.length)}\n`);
  }

  error(text: string): void {
    const s = new Chalk({ level: this.interactive ? 1 : 0 });
    this.stderr.write(`${s.red('error:')} ${wrapLines(escapeLines(text), this.errWidth, 'error: '.length)}\n`);
  }

  /** A long step: an ora spinner on a terminal, plain start and end lines elsewhere. */
  async spinner(text: string): Promise<Spinner> {
    const started = Date.now();
    const took = () => `(${((Date.now() - started) / 1000).toFixed(1)}s)`;
    if (!this.interactive) {
      this.stderr.write(`${text} ...\n`);
      return {
        update: () => {},
        succeed: (t) => this.stderr.write(`${t ?? text}: done ${took()}\n`),
        fail: (t) => this.stderr.write(`${t ?? text}: failed ${took()}\n`),
      };
    }
    const { default: ora } = await import('ora');
    const spin = ora({ text, stream: this.stderr as NodeJS.WritableStream, isEnabled: true }).start();
    return {
      // The progress line is a tool's output (kind's): it must not drive the terminal.
      update: (t) => {
        spin.text = `${text} ${this.style.dim(escapeText(t))}`;
      },
      succeed: (t) => spin.succeed(`${t ?? text} ${this.style.dim(took())}`),
      fail: (t) => spin.fail(`${t ?? text} ${this.style.dim(took())}`),
    };
  }
}
