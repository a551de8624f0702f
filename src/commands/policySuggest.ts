/**
 * `audit-lab policy suggest (--sink NAME | --file PATH...) [--from POLICY] [--target N%] [-o json]`:
 * a policy that cuts the heaviest read-only traffic of the input, in front of a base policy, with
 * every rule's effect and the before/after totals as `policy test` counts them.
 */
import { readPolicySource } from '../audit/presets.js';
import { loadPolicy } from '../audit/policyLoader.js';
import { suggest } from '../audit/suggest.js';
import { Traffic } from '../audit/suggestTraffic.js';
import { UserError } from '../errors.js';
import {
  type SuggestionContext,
  suggestionDocument,
  suggestionNotes,
  suggestionYaml,
} from '../render/suggestedPolicy.js';
import { readSource, refusedExitCode, sourceFor } from '../streams/source.js';
import { printRefused } from '../ui/format.js';
import { type Common, type Context, pathsFor } from './context.js';

// --- options: what policyCommand.ts parses the flags into ---
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
// --- end options ---

export async function policySuggest(o: PolicySuggestOptions, ctx: Context): Promise<number> {
  if (o.files.length === 0 && o.sink === undefined) {
    throw new UserError(
      'give the events to learn from: --sink NAME (what a lab stored) or --file PATH (an audit log)',
      'e.g. audit-lab policy suggest --sink full --target 50% > quiet.yaml',
    );
  }
  const base = await readPolicySource(o.from, ctx.io.cwd);
  const policy = loadPolicy(base.text, base.source);
  const sinks = o.sink === undefined ? [] : [o.sink];
  const { source } = await sourceFor({
    files: o.files,
    sinks,
    paths: pathsFor(ctx, o.name),
    cwd: ctx.io.cwd,
    stdin: ctx.io.stdin,
  });
  const traffic = new Traffic(policy);
  const query = { tail: -1, matches: () => true, follow: false, signal: new AbortController().signal, pollMs: 100 };
  const skipped = await readSource(source, query, (batch) => {
    for (const r of batch) traffic.add(r.event, Buffer.byteLength(r.text, 'utf8'));
  });
  const input = o.sink !== undefined ? `sink ${o.sink}` : o.files.join(', ');
  if (traffic.events === 0)
    throw new UserError(
      `no audit events in ${input}: nothing to suggest a policy from`,
      'capture some traffic first, e.g. `audit-lab sink create full --level RequestResponse`',
    );
  const s = suggest(traffic, { target: o.target });
  const c: SuggestionContext = {
    from: base.source,
    baseText: base.text,
    input,
    events: traffic.events,
    protectedEvents: traffic.protectedEvents,
  };
  const yaml = suggestionYaml(s, c);
  ctx.out.data(o.output === 'json' ? `${JSON.stringify(suggestionDocument(s, yaml, c), null, 2)}\n` : yaml);
  const notes = suggestionNotes(s, c);
  for (const w of notes.warnings) ctx.out.warn(w);
  ctx.out.info(notes.summary);
  printRefused(ctx.out, skipped);
  return refusedExitCode(skipped);
}
