/**
 * What static-mode sinks need beyond a level and stages: the evaluator of a sink made with
 * --policy, and the forwarder of a sink made with --url. Kept in step with the lab state as it
 * changes while the receiver runs.
 */
import { readFile } from 'node:fs/promises';
import { PolicyEvaluator } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import type { LabPaths } from '../lab/paths.js';
import { sinkPolicyFile } from '../streams/names.js';
import type { LabState } from '../lab/state.js';
import type { AuditEvent } from './decode.js';
import { Forwarder, type ForwardStats } from './forward.js';
import type { ReceiverConfig } from './batchPlan.js';

export interface SinkExtrasOptions {
  log: (line: string) => void;
  /** For tests: what the forwarders trust, instead of the system's CAs. */
  forwardCa?: string;
  forwardBackoffMs?: number;
  /** For tests: a smaller backlog than FORWARD_BACKLOG_BYTES. */
  forwardBacklogBytes?: number;
}

/** A forwarding sink as `status` and `sink list` show it. */
export interface SinkForwarding extends ForwardStats {
  sink: string;
  url: string;
}

export class SinkExtras {
  private readonly forwarders = new Map<string, { key: string; url: string; fwd: Forwarder }>();

  constructor(
    private readonly paths: LabPaths,
    private readonly opts: SinkExtrasOptions,
  ) {}

  /** The receiver's config for a state: sinks, their policies, and where their events also go. */
  async config(state: Pick<LabState, 'mode' | 'sinks'>): Promise<ReceiverConfig> {
    const policies = new Map<string, PolicyEvaluator | null>();
    const forward = new Map<string, (events: readonly AuditEvent[]) => void>();
    if (state.mode === 'static') {
      for (const sink of state.sinks) {
        if (sink.policy !== undefined) policies.set(sink.name, await this.evaluator(sink.name));
        if (sink.url !== undefined) {
          const fwd = this.forwarder(sink.name, sink.url, sink.throttle);
          forward.set(sink.name, (events) => fwd.push(events));
        }
      }
    }
    for (const [name, { fwd }] of this.forwarders) {
      if (!forward.has(name)) {
        this.forwarders.delete(name);
        void fwd.close().then((st) => this.report(name, st));
      }
    }
    return { mode: state.mode, sinks: state.sinks, policies, forward };
  }

  /** Each forwarding sink's backlog and counts now. */
  forwarding(): SinkForwarding[] {
    return [...this.forwarders].map(([sink, { url, fwd }]) => ({ sink, url, ...fwd.snapshot() }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.forwarders].map(async ([name, { fwd }]) => this.report(name, await fwd.close())));
    this.forwarders.clear();
  }

  private async evaluator(sink: string): Promise<PolicyEvaluator | null> {
    const file = sinkPolicyFile(this.paths, sink);
    try {
      return new PolicyEvaluator(loadPolicy(await readFile(file, 'utf8'), file));
    } catch (err) {
      // Fail closed: storing more than the policy allows could write what it was meant to keep out.
      this.opts.log(
        `${new Date().toISOString()} error: sink ${sink}: its policy ${file} cannot be used, so it stores nothing: ${(err as Error).message}`,
      );
      return null;
    }
  }

  private forwarder(sink: string, url: string, throttle: { qps: number; burst: number }): Forwarder {
    const key = `${url} ${throttle.qps} ${throttle.burst}`;
    const have = this.forwarders.get(sink);
    if (have?.key === key) return have.fwd;
    if (have) void have.fwd.close().then((st) => this.report(sink, st));
    const fwd = new Forwarder({
      url,
      throttle,
      log: (line) => this.opts.log(`${new Date().toISOString()} sink ${sink}: ${line}`),
      ...(this.opts.forwardCa !== undefined ? { ca: this.opts.forwardCa } : {}),
      ...(this.opts.forwardBackoffMs !== undefined ? { initialBackoffMs: this.opts.forwardBackoffMs } : {}),
      ...(this.opts.forwardBacklogBytes !== undefined ? { backlogBytes: this.opts.forwardBacklogBytes } : {}),
    });
    this.forwarders.set(sink, { key, url, fwd });
    return fwd;
  }

  private report(sink: string, st: ForwardStats): void {
    this.opts.log(
      `${new Date().toISOString()} sink ${sink}: forwarding stopped: ${st.sent} sent in ${st.batches} batches, ${st.dropped} dropped`,
    );
  }
}
