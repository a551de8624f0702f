/**
 * What `tail` shows, event by event and at the end. A person at a terminal gets a header, lines
 * cut to its width and notes on stderr (what it waits for, that nothing is stored); a pipe gets
 * none of these, and machine output (json, jsonl) never does.
 */
import type { StoredEvent } from '../audit/filter.js';
import { escapeText } from './escape.js';
import {
  formatEventList,
  formatJson,
  formatSummary,
  PrettyFormatter,
  printRefused,
  type SkippedLines,
  Tally,
} from './format.js';
import type { Output } from './output.js';

export type TailFormat = 'pretty' | 'wide' | 'json' | 'jsonl';

/** An event as read from a stream: its stored line, parsed, and the sink it came from. */
export interface ShownEvent {
  sink: string;
  /** Every sink holding it, when several did and it is shown once (-o wide names them all). */
  sinks?: readonly string[];
  text: string;
  event: StoredEvent;
}

export interface TailViewOptions {
  output: TailFormat;
  follow: boolean;
  utc: boolean;
  /** The sinks read (or, with `files`, the files as named), for the notes. */
  reading: readonly string[];
  files?: boolean;
  /** What stdout and stderr are: terminals, or not (stdout's width is Output's). */
  stdoutTty: boolean;
  stderrTty: boolean;
}

export class TailView {
  readonly tally = new Tally();
  private readonly formatter: PrettyFormatter;
  /** The columns of the header printed last (printed again when they change); null: none is due. */
  private headed: string | undefined | null;
  /** -o json of a finite listing is one document: the events are kept until the end. */
  private readonly listed: StoredEvent[] | undefined;

  constructor(
    private readonly out: Output,
    private readonly o: TailViewOptions,
  ) {
    this.formatter = new PrettyFormatter(out.style, {
      wide: o.output === 'wide',
      width: o.stdoutTty ? out.width : undefined,
      utc: o.utc,
      header: o.stdoutTty,
      sinkColumn: o.reading.length !== 1,
    });
    this.headed = this.pretty && o.stdoutTty ? undefined : null;
    this.listed = o.output === 'json' && !o.follow ? [] : undefined;
  }

  private get pretty(): boolean {
    return this.o.output === 'pretty' || this.o.output === 'wide';
  }

  /** Events read; `stored` on the last batch of what was stored (following from there on). */
  shown(shown: readonly ShownEvent[], stored: boolean): void {
    const { out, o } = this;
    for (const r of shown) this.tally.add(r.event);
    if (this.listed !== undefined) this.listed.push(...shown.map((r) => r.event));
    else if (shown.length > 0) {
      if (this.pretty) this.formatter.measure(shown.map((r) => ({ event: r.event, sink: this.sinkOf(r) })));
      // Fitting a terminal may leave a column out, or bring it back, as events vary: the header
      // is printed again so that its names stay over their columns.
      const columns = this.formatter.shownColumns();
      if (this.headed !== null && this.headed !== columns) out.line(this.formatter.header());
      if (this.headed !== null) this.headed = columns;
      out.data(shown.map((r) => `${this.line(r)}\n`).join(''));
    }
    if (stored && o.follow && this.tally.total === 0 && o.stderrTty) out.note(waitingNote(o.reading, o.files === true));
  }

  private line(r: ShownEvent): string {
    if (this.o.output === 'jsonl') return r.text;
    if (this.o.output === 'json') return formatJson(r.event);
    return this.formatter.format(r.event, this.sinkOf(r));
  }

  /** The SINK column: the sink whose copy is shown; with -o wide, every sink that holds the event. */
  private sinkOf(r: ShownEvent): string {
    return this.o.output === 'wide' && r.sinks !== undefined && r.sinks.length > 1 ? r.sinks.join(',') : r.sink;
  }

  /** The end: the EventList of -o json, every line that was not an audit event (where and why), and after Ctrl-C the summary. */
  end(skipped: SkippedLines, interrupted: boolean): void {
    const { out, o } = this;
    if (this.listed !== undefined) out.data(`${formatEventList(this.listed)}\n`);
    if (!o.follow && this.tally.total === 0 && o.stderrTty)
      out.note(`no events in ${sinkList(o.reading, o.files === true)}`);
    printRefused(out, skipped);
    if (interrupted) out.info(formatSummary(this.tally, out.errStyle, { skipped: skipped.count, width: out.errWidth }));
  }
}

/** What an empty tail is waiting for, said on a terminal so that silence does not look like a hang. */
function waitingNote(sinks: readonly string[], files: boolean): string {
  if (sinks.length === 0)
    return 'waiting for events; the lab has no sinks yet (create one with `audit-lab sink create NAME`; Ctrl-C to stop)';
  return `waiting for events in ${sinkList(sinks, files)} (Ctrl-C to stop)`;
}

const sinkList = (names: readonly string[], files: boolean) =>
  names.length === 0
    ? 'any sink (the lab has none)'
    : `${files ? (names.length === 1 ? 'file' : 'files') : names.length === 1 ? 'sink' : 'sinks'} ${names.map(escapeText).join(', ')}`;
