/**
 * The policy `audit-lab policy suggest` prints: the base policy's own YAML (its comments and
 * layout kept) with the suggested rules put in front of its rules, each under a comment saying
 * what it matches and what it removes from the input, and the before/after totals as comments at
 * the end; and the same as one JSON document for `-o json`. Pure.
 */
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type Node,
  parse,
  parseDocument,
  Scalar,
  visit,
  type YAMLMap,
} from 'yaml';
import { formatBytes } from '../audit/bytes.js';
import { LEVELS } from '../audit/model.js';
import type { Policy } from '../audit/policyEngine.js';
import { loadPolicy } from '../audit/policyLoader.js';
import type { Suggestion, SuggestedRule } from '../audit/suggest.js';
import type { ProtectedReason } from '../audit/suggestScope.js';
import type { Count, Tally } from '../audit/verdict.js';
import { escapeText } from '../ui/escape.js';
import { tableLines } from '../ui/table.js';

/** What the comments say about the input, besides the suggestion's own figures. */
export interface SuggestionContext {
  /** The base policy as named: preset:NAME or a path. */
  from: string;
  /** The base policy file's text. */
  baseText: string;
  /** Where the events came from: "sink full", "audit.log". */
  input: string;
  events: number;
  protectedEvents: Record<ProtectedReason, number>;
}

/** 1234567 as "1,234,567", the same everywhere. */
export const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

function share(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (part / whole) * 100;
  return p > 0 && p < 1 ? '<1%' : `${Math.round(p)}%`;
}

/** Text of ours quoting names from events, for a comment: escaped, and never a second line (U+2028 and U+2029 are line breaks in YAML 1.1). */
const commentSafe = (s: string) =>
  escapeText(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/** The comment above a suggested rule. */
export function ruleComment(r: SuggestedRule, before: Tally): string {
  const what =
    r.level === 'None'
      ? `drops ${thousands(r.dropped)} event${r.dropped === 1 ? '' : 's'}`
      : `cuts ${thousands(r.events)} event${r.events === 1 ? '' : 's'} to Metadata`;
  return `${what}, ${formatBytes(r.bytes)} (${share(r.bytes, before.policy.bytes)}): ${r.description}`;
}

function header(s: Suggestion, c: SuggestionContext): string[] {
  const p = c.protectedEvents;
  const n = s.rules.length;
  const lines = [
    `Suggested by \`audit-lab policy suggest\` from ${c.from}, for ${c.input} (${thousands(c.events)} events).`,
  ];
  if (n === 0) lines.push(`No rule to add: the rules are ${c.from}'s, unchanged.`);
  else {
    lines.push(
      `The first ${n === 1 ? 'rule is' : `${n} rules are`} new: each drops (None) or lowers to Metadata read-only traffic of that`,
      `input. None matches any of its ${thousands(p.write + p.secret + p.denied + p.exec)} protected events (writes ${thousands(p.write)}, secrets ${thousands(p.secret)},`,
      `401/403 ${thousands(p.denied)}, exec/attach/portforward/proxy ${thousands(p.exec)}), nor any request that looks the same to a rule;`,
      `and none gives any write, secret access, exec/attach/portforward/proxy or request without a user,`,
      `in the input or not, a lower level than ${c.from} does.`,
      `The rules after them are ${c.from}'s, unchanged.`,
    );
  }
  lines.push('Check it on the same events with `audit-lab policy test FILE`.');
  return lines;
}

function totals(s: Suggestion, c: SuggestionContext): string[] {
  const cell = (x: Count | undefined) => [thousands(x?.events ?? 0), thousands(x?.bytes ?? 0)];
  const b = s.before.policy;
  const a = s.after.policy;
  const rows = [['LEVEL', 'BEFORE', 'BYTES', 'AFTER', 'BYTES']];
  for (const level of LEVELS)
    if (level !== 'None') rows.push([level, ...cell(b.byLevel[level]), ...cell(a.byLevel[level])]);
  rows.push(['None (not written)', thousands(b.droppedNone), '-', thousands(a.droppedNone), '-']);
  rows.push(['stage omitted', thousands(b.droppedStage), '-', thousands(a.droppedStage), '-']);
  rows.push(['total written', ...cell(b), ...cell(a)]);
  const target = s.target === null ? '' : `; target ${Math.round(s.target * 1e4) / 100}%: ${s.met ? 'met' : 'not met'}`;
  return [
    `Before (${c.from}) and after (this policy), on the ${thousands(c.events)} events of ${c.input},`,
    'as `audit-lab policy test` counts them (bytes the API server would write):',
    ...tableLines(rows, new Set([1, 2, 3, 4])).map((l) => `  ${l}`),
    `after: ${formatBytes(a.bytes)} of ${formatBytes(b.bytes)}, ${share(a.bytes, b.bytes)} of the bytes before${target}.`,
  ];
}

// A plain scalar that every YAML reader takes for the very string, 1.1 (the API server's go-yaml,
// which also reads Go's number syntax: 0o17, 0x1p-2, 1_000) and 1.2 alike: a letter or "/" first,
// so no number, date, sexagesimal, .inf or indicator; then only characters that end no plain
// scalar, in a flow list too (":" never last); and no word YAML 1.1 or 1.2 reads as a boolean or
// null, in any case, nor inf or nan. Everything else is written double-quoted.
const PLAIN_SAFE = /^[A-Za-z/][A-Za-z0-9._/*:-]*$/;
const TYPED_WORD = /^(?:y|n|yes|no|on|off|true|false|null|inf|infinity|nan)$/i;

/** Whether `s` may go out as a plain scalar and be read back as itself by any YAML reader. */
function plainSafe(s: string): boolean {
  return PLAIN_SAFE.test(s) && !s.endsWith(':') && !TYPED_WORD.test(s);
}

/** Every string of the document a plain scalar would not carry safely, double-quoted (the base policy's included). */
function quoteStrings(doc: Document): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || node.tag !== undefined || plainSafe(node.value)) return;
      if (node.type === undefined || node.type === Scalar.PLAIN) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
}

/** Short lists of strings in flow style, [get, list], as the presets write them. */
function flowLists(node: Node): void {
  if (isSeq(node)) {
    if (node.items.every((i) => isScalar(i))) node.flow = true;
    else for (const i of node.items) flowLists(i as Node);
  } else if (isMap(node)) for (const p of node.items) flowLists(p.value as Node);
}

/** The base document with `rules` in front of its own, or a fresh one when its rules are not a plain list (an alias). */
function withRules(c: SuggestionContext, policy: Policy, s: Suggestion): Document {
  const doc = parseDocument(c.baseText, { version: '1.1' });
  const seq = doc.get('rules', true);
  if (!isSeq(seq)) {
    doc.set('rules', doc.createNode(policy.rules.map(ruleObject), { aliasDuplicateObjects: false }));
    return doc;
  }
  // A comment above the base's first rule belongs to that rule, not to the list it now shares.
  const first = seq.items[0] as Node | undefined;
  if (first && seq.commentBefore) {
    first.commentBefore = [seq.commentBefore, first.commentBefore].filter(Boolean).join('\n');
    seq.commentBefore = undefined;
  }
  const added = s.rules.map((r) => {
    const node = doc.createNode(ruleObject(r.rule), { aliasDuplicateObjects: false }) as YAMLMap;
    flowLists(node);
    node.commentBefore = ` ${commentSafe(ruleComment(r, s.before))}`;
    return node;
  });
  seq.items.unshift(...added);
  return doc;
}

/** A rule as YAML writes it: only the fields it sets. */
function ruleObject(r: Policy['rules'][number]): Record<string, unknown> {
  const o: Record<string, unknown> = { level: r.level };
  if (r.users.length > 0) o.users = r.users;
  if (r.userGroups.length > 0) o.userGroups = r.userGroups;
  if (r.verbs.length > 0) o.verbs = r.verbs;
  if (r.resources.length > 0)
    o.resources = r.resources.map((g) => ({
      group: g.group,
      resources: g.resources,
      ...(g.resourceNames.length > 0 ? { resourceNames: g.resourceNames } : {}),
    }));
  if (r.namespaces.length > 0) o.namespaces = r.namespaces;
  if (r.nonResourceURLs.length > 0) o.nonResourceURLs = r.nonResourceURLs;
  if (r.omitStages.length > 0) o.omitStages = r.omitStages;
  if (r.omitManagedFields !== null) o.omitManagedFields = r.omitManagedFields;
  return o;
}

/**
 * The suggested policy as YAML. It is read back with our loader (the API server's rules) and must
 * give exactly the suggested policy: anything else is a bug, not a file to hand a user.
 */
export function suggestionYaml(s: Suggestion, c: SuggestionContext): string {
  const doc = withRules(c, s.policy, s);
  quoteStrings(doc);
  doc.commentBefore = header(s, c)
    .map((l) => ` ${commentSafe(l)}`)
    .join('\n');
  doc.comment = totals(s, c)
    .map((l) => ` ${commentSafe(l)}`)
    .join('\n');
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  const back = loadPolicy(text, 'the suggested policy');
  if (JSON.stringify(back) !== JSON.stringify(s.policy))
    throw new Error('policy suggest: the suggested policy does not read back as itself');
  return text;
}

/** `-o json`: the policy (as the YAML reads), its text, each suggested rule's figures, and the totals. */
export function suggestionDocument(s: Suggestion, yaml: string, c: SuggestionContext) {
  return {
    policy: parse(yaml, { version: '1.1' }) as unknown,
    yaml,
    from: c.from,
    input: c.input,
    events: c.events,
    protected: c.protectedEvents,
    rules: s.rules.map((r, index) => ({
      index,
      level: r.level,
      description: r.description,
      events: r.events,
      dropped: r.dropped,
      bytes: r.bytes,
    })),
    captured: s.before.captured,
    before: s.before.policy,
    after: s.after.policy,
    target: s.target,
    met: s.met,
    stop: s.stop,
  };
}

/** What `policy suggest` says on stderr: the outcome in one line, and what the user should know. */
export function suggestionNotes(s: Suggestion, c: SuggestionContext): { summary: string; warnings: string[] } {
  const b = s.before.policy.bytes;
  const a = s.after.policy.bytes;
  const n = s.rules.length;
  const summary = `${n} rule${n === 1 ? '' : 's'} suggested in front of ${c.from}: ${formatBytes(a)} instead of ${formatBytes(b)} (${share(a, b)} of the bytes before) on ${thousands(c.events)} events`;
  const warnings: string[] = [];
  if (s.met === false) {
    const why =
      s.stop === 'max-rules'
        ? `it stopped at ${n} rules, the most it suggests`
        : 'the rest is protected (writes, secrets, 401/403, exec) or looks like it to a rule, or is no read traffic a rule may cut';
    warnings.push(
      `the target ${Math.round(s.target! * 1e4) / 100}% was not met: the best is ${share(a, b)} (${thousands(a)} of ${thousands(b)} bytes) with ${n} rule${n === 1 ? '' : 's'}; ${why}. The policy printed is that best one`,
    );
  }
  if (s.before.underCaptured > 0) {
    warnings.push(
      `${thousands(s.before.underCaptured)} event${s.before.underCaptured === 1 ? ' was' : 's were'} captured at a lower level than ${c.from} gives: their bodies were never recorded, so the bytes are a lower bound; capture with \`audit-lab sink create NAME --level RequestResponse\` to measure them`,
    );
  }
  return { summary, warnings };
}
