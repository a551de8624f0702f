/** The typed options each command receives from src/cli.ts, after parsing and normalization. */
import type { SinkCreateRequest } from '../cluster/sinks.js';
import type { UpRequest } from '../cluster/up.js';
import type { Shell } from '../completion.js';
import type { Capture } from '../lab/state.js';
import type { TailFormat } from '../ui/tailView.js';
import type { RenderRequest } from '../render/labOutput.js';
import type { OutputFormat } from '../ui/printers.js';
import type { FilterFlags } from '../audit/filter.js';
import type { GroupKey } from '../top/keys.js';
import type { TopFormat } from '../top/once.js';

export interface Common {
  name: string;
}

export interface RenderOptions extends Common, RenderRequest {
  out?: string;
  /** Sink flags given without --sink: they apply to the default sink, which render says. */
  sinkFlagsAlone?: string[];
}

/** Flags left out are undefined: an existing lab keeps its values, a new one takes the defaults. */
export interface UpOptions extends UpRequest {
  dryRun: boolean;
  verbose: boolean;
}

export interface DownOptions extends Common {
  purge: boolean;
  /** Stop the receiver only. */
  keepCluster: boolean;
}

export type SinkCreateOptions = SinkCreateRequest;

/** `-o FORMAT` (src/ui/printers.ts); `--json` is `-o json`; 'table' when neither is given. */
export interface Printed {
  output: OutputFormat;
}

export interface SinkListOptions extends Common, Printed {}

export interface SinkDeleteOptions extends Common {
  sinkName: string;
}


export interface TailOptions extends Common {
  /** Only these sinks; empty: every sink, merged. */
  sinks: string[];
  /** Audit log files to read instead of a lab ('-': stdin); empty: the lab's sinks. */
  files: string[];
  follow: boolean;
  /** Of the stored events that pass the filters, only the last N; -1 all (kubectl logs --tail). */
  tail: number;
  since?: string;
  output: TailFormat;
  /** Times in UTC instead of local time (pretty and wide only). */
  utc: boolean;
  verb: string[];
  user: string[];
  namespace: string[];
  resource: string[];
  stage: string[];
  code: string[];
}

// --- top ---
export interface TopOptions extends Common, FilterFlags {
  /** Only these sinks; empty: every sink. */
  sinks: string[];
  /** Audit log files to read instead of a lab ('-': stdin). */
  files: string[];
  by: GroupKey[];
  /** Rates over this window (default 1m live; what is stored, whole, with --no-follow). */
  window?: string;
  follow: boolean;
  since?: string;
  output: TopFormat;
  /** At most this many groups (default: all off a terminal, the screen's height on one). */
  limit?: number;
}
// --- end top ---

export interface ServeOptions extends Common {
  address?: string;
  port?: number;
  /** Rotate a sink's stream at this size (bytes); saved in the lab state. */
  maxStreamBytes?: number;
  /** Rotated files kept per sink; saved in the lab state. */
  maxStreamFiles?: number;
  /** What the lab's API server captures (static mode); saved in the lab state. */
  capture?: Capture;
  /** For the receiver benchmark only: acknowledge batches without fdatasync (receiver/store/options.ts SKIP_SYNC). */
  skipFsync?: boolean;
}

export interface StatusOptions extends Common, Printed {}

export interface DoctorOptions extends Common, Printed {}

export type ListOptions = Printed;

export interface PolicyTestOptions extends Common, Printed {
  policy: string;
  /** Audit log files (--file, and --events, its older name); '-' is stdin. */
  files: string[];
  sink?: string;
  /** The table with a row per event before the summary (-o wide always has them). */
  perEvent: boolean;
}

/** `policy suggest`: the events (one sink, or files), the base policy and the share of bytes to reach. */
export interface PolicySuggestOptions extends Common {
  sink?: string;
  files: string[];
  /** A policy file or preset:NAME. */
  from: string;
  /** At most this share of the bytes the base policy writes (0 < target <= 1). */
  target?: number;
  output: 'yaml' | 'json';
}

/** `version`: the version is the one main.ts reads from package.json, handed over by the CLI. */
export interface VersionOptions extends Printed {
  version: string;
}

export interface CompletionOptions {
  shell: Shell;
}

export interface Handlers {
  render(o: RenderOptions): Promise<number | void>;
  up(o: UpOptions): Promise<number | void>;
  down(o: DownOptions): Promise<number | void>;
  sinkCreate(o: SinkCreateOptions): Promise<number | void>;
  sinkList(o: SinkListOptions): Promise<number | void>;
  sinkDelete(o: SinkDeleteOptions): Promise<number | void>;
  tail(o: TailOptions): Promise<number | void>;
  serve(o: ServeOptions): Promise<number | void>;
  status(o: StatusOptions): Promise<number | void>;
  doctor(o: DoctorOptions): Promise<number | void>;
  policyTest(o: PolicyTestOptions): Promise<number | void>;
  policySuggest(o: PolicySuggestOptions): Promise<number | void>;
  list(o: ListOptions): Promise<number | void>;
  completion(o: CompletionOptions): Promise<number | void>;
  top(o: TopOptions): Promise<number | void>;
  version(o: VersionOptions): Promise<number | void>;
}
