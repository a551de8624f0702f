/**
 * Reading an audit.k8s.io/v1 Policy: strict decoding (an unknown field is an error, with its line,
 * where kube-apiserver would only warn and load the rest) and then upstream's validation
 * (k8s.io/apiserver pkg/apis/audit/validation) with its field paths and wording, so a policy
 * audit-lab accepts is one the API server accepts, and a refusal reads like the API server's.
 *
 * Values are read as sigs.k8s.io/yaml reads them: YAML 1.1 scalars (yes/no/on/off are booleans),
 * then JSON types, so `verbs: [get, on]` is a type error here as it is there.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments, type Document } from 'yaml';
import { UserError } from '../errors.js';
import { dns1123SubdomainErrors, isLevel, isStage, LEVELS, STAGES } from './model.js';
import type { GroupResources, Policy, PolicyRule } from './policyEngine.js';

export type LoadErrorKind = 'decode' | 'validate' | 'empty';

/** A policy the API server would refuse. `detail` is upstream's message for validation errors. */
export class PolicyLoadError extends UserError {
  constructor(
    readonly kind: LoadErrorKind,
    /** For 'validate', upstream's message exactly; otherwise each problem on a line with FILE:LINE:COL. */
    readonly detail: string,
    message: string,
    hint?: string,
  ) {
    super(message, hint);
  }
}

const DOCS_HINT = 'see https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#audit-policy';
export const POLICY_API_VERSION = 'audit.k8s.io/v1';

// ---- Go formatting, for messages that match upstream byte for byte --------------------------

/** encoding/json's string encoding (HTML-safe: <, > and & escaped). */
export function goJSON(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SHORT_ESCAPES: Record<string, string> = {
  '\u0007': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/** strconv.Quote, as fmt's %q prints a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (PRINTABLE.test(ch) && !(cp >= 0xd800 && cp <= 0xdfff)) out += ch;
    else if (SHORT_ESCAPES[ch] !== undefined) out += SHORT_ESCAPES[ch];
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

// ---- Validation --------------------------------------------------------------------------

/** One field error: upstream's field path and message body. */
export interface FieldErr {
  field: string;
  body: string;
}

function validateOmitStages(stages: readonly string[], path: string): FieldErr[] {
  const errs: FieldErr[] = [];
  stages.forEach((s, i) => {
    if (!isStage(s)) {
      errs.push({
        field: `${path}[${i}]`,
        body: `Invalid value: ${goQuote(s)}: allowed stages are ${STAGES.join(',')}`,
      });
    }
  });
  return errs;
}

function validateRule(rule: PolicyRule, path: string, groupWildcard: boolean): FieldErr[] {
  const errs: FieldErr[] = [];
  if (rule.level === '') errs.push({ field: `${path}.level`, body: 'Required value' });
  else if (!isLevel(rule.level)) {
    // audit.Level is not a plain string to fmt, so upstream prints it as JSON, not %q; the levels
    // and stages in their declared order, not sorted as the AuditSink checks (model.ts) print them.
    errs.push({
      field: `${path}.level`,
      body: `Unsupported value: ${goJSON(rule.level)}: supported values: ${LEVELS.map((l) => `"${l}"`).join(', ')}`,
    });
  }
  rule.nonResourceURLs.forEach((url, i) => {
    if (url === '*') return;
    const field = `${path}.nonResourceURLs[${i}]`;
    if (!url.startsWith('/'))
      errs.push({
        field,
        body: `Invalid value: ${goQuote(url)}: non-resource URL rules must begin with a '/' character`,
      });
    if (url !== '' && url.slice(0, -1).includes('*')) {
      errs.push({
        field,
        body: `Invalid value: ${goQuote(url)}: non-resource URL wildcards '*' must be the final character of the rule`,
      });
    }
  });
  for (const gr of rule.resources) {
    // Upstream's path has no index here.
    if (gr.group !== '' && !(groupWildcard && gr.group === '*')) {
      const msgs = dns1123SubdomainErrors(gr.group);
      if (msgs.length > 0)
        errs.push({ field: `${path}.resources.group`, body: `Invalid value: ${goQuote(gr.group)}: ${msgs.join(',')}` });
    }
    if (gr.resourceNames.length > 0 && gr.resources.length === 0) {
      errs.push({
        field: `${path}.resources.resourceNames`,
        body: `Invalid value: ${goJSON(gr.resourceNames)}: using resourceNames requires at least one resource`,
      });
    }
  }
  errs.push(...validateOmitStages(rule.omitStages, `${path}.omitStages`));
  if (rule.nonResourceURLs.length > 0 && (rule.resources.length > 0 || rule.namespaces.length > 0)) {
    errs.push({
      field: `${path}.nonResourceURLs`,
      body: `Invalid value: ${goJSON(rule.nonResourceURLs)}: rules cannot apply to both regular resources and non-resource URLs`,
    });
  }
  return errs;
}

/** validation.ValidatePolicy. */
export function validatePolicy(policy: Policy, opts: { groupWildcard?: boolean } = {}): FieldErr[] {
  const errs = validateOmitStages(policy.omitStages, 'omitStages');
  for (const [i, r] of policy.rules.entries()) errs.push(...validateRule(r, `rules[${i}]`, opts.groupWildcard ?? true));
  return errs;
}

/** ErrorList.ToAggregate().Error(): duplicates dropped, one message bare, several in brackets. */
export function aggregateMessage(errs: readonly FieldErr[]): string {
  const msgs = [...new Set(errs.map((e) => `${e.field}: ${e.body}`))];
  return msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`;
}

// ---- Strict decoding ---------------------------------------------------------------------

interface Ctx {
  doc: Document;
  lines: LineCounter;
  source: string;
  errors: string[];
}

function at(ctx: Ctx, node: Node | null | undefined): string {
  const offset = node?.range?.[0];
  if (offset === undefined) return ctx.source;
  const { line, col } = ctx.lines.linePos(offset);
  return `${ctx.source}:${line}:${col}`;
}

function deref(ctx: Ctx, node: unknown): Node | null {
  let n = node as Node | null | undefined;
  for (let i = 0; n && isAlias(n) && i < 100; i++) n = n.resolve(ctx.doc) as Node | undefined;
  return n ?? null;
}

function kindOf(node: Node | null): string {
  if (node === null) return 'null';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    if (typeof v === 'boolean') return `a boolean (${String(v)})`;
    if (typeof v === 'number' || typeof v === 'bigint') return `a number (${String(v)})`;
    return 'a string';
  }
  return 'an unknown node';
}

const isNull = (n: Node | null) => n === null || (isScalar(n) && n.value === null);

/**
 * The pairs of a map, YAML 1.1 merge keys (<<) expanded. yaml.v2's strict mode, which the API
 * server's strict decoding uses, refuses a key set twice whether by merge or by hand, and so do we.
 */
function pairsOf(
  ctx: Ctx,
  map: Node,
  seen = new Set<string>(),
): { key: string; keyNode: Node | null; value: Node | null }[] {
  if (!isMap(map)) return [];
  const out: { key: string; keyNode: Node | null; value: Node | null }[] = [];
  for (const pair of map.items) {
    const keyNode = deref(ctx, pair.key);
    const value = deref(ctx, pair.value);
    const raw = keyNode && isScalar(keyNode) ? keyNode.value : keyNode;
    if (typeof raw === 'symbol' || (raw === '<<' && keyNode && isScalar(keyNode) && keyNode.source === '<<')) {
      const sources = value && isSeq(value) ? value.items.map((i) => deref(ctx, i)) : [value];
      for (const src of sources) if (src && isMap(src)) out.push(...pairsOf(ctx, src, seen));
      continue;
    }
    const key = String(raw);
    if (seen.has(key)) {
      ctx.errors.push(`${at(ctx, keyNode)}: key ${goJSON(key)} already set in map`);
      continue;
    }
    seen.add(key);
    out.push({ key, keyNode, value });
  }
  return out;
}

function expectMap(ctx: Ctx, node: Node | null, path: string): boolean {
  if (node !== null && isMap(node)) return true;
  ctx.errors.push(`${at(ctx, node)}: ${path}: expected a map, got ${kindOf(node)}`);
  return false;
}

function readString(ctx: Ctx, node: Node | null, path: string): string {
  if (isNull(node)) return '';
  if (node && isScalar(node) && typeof node.value === 'string') return node.value;
  ctx.errors.push(
    `${at(ctx, node)}: ${path}: expected a string, got ${kindOf(node)}${node && isScalar(node) && typeof node.value !== 'string' ? '; quote it' : ''}`,
  );
  return '';
}

function readBool(ctx: Ctx, node: Node | null, path: string): boolean | null {
  if (isNull(node)) return null;
  if (node && isScalar(node) && typeof node.value === 'boolean') return node.value;
  ctx.errors.push(`${at(ctx, node)}: ${path}: expected true or false, got ${kindOf(node)}`);
  return null;
}

function readList<T>(ctx: Ctx, node: Node | null, path: string, item: (n: Node | null, p: string) => T): T[] {
  if (isNull(node)) return [];
  if (!node || !isSeq(node)) {
    ctx.errors.push(`${at(ctx, node)}: ${path}: expected a list, got ${kindOf(node)}`);
    return [];
  }
  return node.items.map((n, i) => item(deref(ctx, n), `${path}[${i}]`));
}

const readStrings = (ctx: Ctx, node: Node | null, path: string) =>
  readList(ctx, node, path, (n, p) => readString(ctx, n, p));

function fields(ctx: Ctx, node: Node | null, path: string, known: readonly string[]): Map<string, Node | null> {
  const out = new Map<string, Node | null>();
  if (!expectMap(ctx, node, path || 'the policy')) return out;
  for (const { key, keyNode, value } of pairsOf(ctx, node!)) {
    if (!known.includes(key)) {
      // Upstream's strict decoding error names the field the same way.
      ctx.errors.push(`${at(ctx, keyNode)}: unknown field ${goJSON(path === '' ? key : `${path}.${key}`)}`);
      continue;
    }
    out.set(key, value);
  }
  return out;
}

const RULE_FIELDS = [
  'level',
  'users',
  'userGroups',
  'verbs',
  'resources',
  'namespaces',
  'nonResourceURLs',
  'omitStages',
  'omitManagedFields',
];
const GROUP_RESOURCE_FIELDS = ['group', 'resources', 'resourceNames'];
const OBJECT_META_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

function readGroupResources(ctx: Ctx, node: Node | null, path: string): GroupResources {
  // Null decodes to the zero value, as in Go: the core group, every resource.
  const f = isNull(node) ? new Map<string, Node | null>() : fields(ctx, node, path, GROUP_RESOURCE_FIELDS);
  return {
    group: readString(ctx, f.get('group') ?? null, `${path}.group`),
    resources: readStrings(ctx, f.get('resources') ?? null, `${path}.resources`),
    resourceNames: readStrings(ctx, f.get('resourceNames') ?? null, `${path}.resourceNames`),
  };
}

function readRule(ctx: Ctx, node: Node | null, path: string): PolicyRule {
  // A null rule decodes to the zero rule, as in Go; validation then asks for its level.
  const f = isNull(node) ? new Map<string, Node | null>() : fields(ctx, node, path, RULE_FIELDS);
  const get = (k: string) => f.get(k) ?? null;
  return {
    level: readString(ctx, get('level'), `${path}.level`),
    users: readStrings(ctx, get('users'), `${path}.users`),
    userGroups: readStrings(ctx, get('userGroups'), `${path}.userGroups`),
    verbs: readStrings(ctx, get('verbs'), `${path}.verbs`),
    resources: readList(ctx, get('resources'), `${path}.resources`, (n, p) => readGroupResources(ctx, n, p)),
    namespaces: readStrings(ctx, get('namespaces'), `${path}.namespaces`),
    nonResourceURLs: readStrings(ctx, get('nonResourceURLs'), `${path}.nonResourceURLs`),
    omitStages: readStrings(ctx, get('omitStages'), `${path}.omitStages`),
    omitManagedFields: readBool(ctx, get('omitManagedFields'), `${path}.omitManagedFields`),
  };
}

/**
 * Line `line` of `text` (1-based) and the one before it, numbered, with a caret under column
 * `col`. The caret's padding keeps the line's control characters (a tab), so it still lines up
 * once the message is escaped for the terminal.
 */
export function snippet(text: string, line: number, col: number): string {
  const lines = text.split(/\r?\n/);
  const width = String(line).length;
  const row = (n: number) => `  ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`;
  const pad = [...(lines[line - 1] ?? '').slice(0, col - 1)]
    .map((c) => (/[\u0000-\u001f\u007f-\u009f]/.test(c) ? c : ' '))
    .join('');
  return [...(line > 1 ? [row(line - 1)] : []), row(line), `  ${' '.repeat(width)} | ${pad}^`].join('\n');
}

/**
 * Decodes strictly. Throws a PolicyLoadError of kind 'decode' listing every problem, each with
 * FILE:LINE:COL.
 */
export function decodePolicy(text: string, source: string): Policy {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  const fail = (detail: string) =>
    new PolicyLoadError(
      'decode',
      detail,
      detail.includes('\n') ? `invalid policy:\n  ${detail.replace(/\n/g, '\n  ')}` : detail,
      DOCS_HINT,
    );
  if (!Array.isArray(docs)) throw fail(`${source}: empty file: expected an audit.k8s.io/v1 Policy`);
  const real = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  const doc = real[0];
  if (doc === undefined) throw fail(`${source}: empty file: expected an audit.k8s.io/v1 Policy`);
  const syntax = real.flatMap((d) => d.errors);
  if (syntax.length > 0) {
    const shown = new Set<number>();
    throw fail(
      syntax
        .map((e) => {
          const pos = e.linePos?.[0];
          // yaml's own "at line 5, column 1:" repeats FILE:LINE:COL; the line itself is shown instead.
          const what = `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
          if (!pos || shown.has(pos.line)) return what;
          shown.add(pos.line);
          return `${what}\n${snippet(text, pos.line, pos.col)}`;
        })
        .join('\n'),
    );
  }
  if (real.length > 1) {
    throw fail(
      `${source}: ${real.length} YAML documents: a policy file holds one Policy (the API server would read only the first)`,
    );
  }
  const ctx: Ctx = { doc, lines, source, errors: [] };
  const root = deref(ctx, doc.contents);
  const f = fields(ctx, root, '', ['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
  if (root !== null && isMap(root)) {
    const apiVersion = readString(ctx, f.get('apiVersion') ?? null, 'apiVersion');
    const kind = readString(ctx, f.get('kind') ?? null, 'kind');
    if (apiVersion === '' && ctx.errors.length === 0)
      ctx.errors.push(`${source}: apiVersion is missing: set apiVersion: ${POLICY_API_VERSION}`);
    else if (apiVersion !== '' && apiVersion !== POLICY_API_VERSION) {
      ctx.errors.push(
        `${at(ctx, f.get('apiVersion'))}: apiVersion ${goJSON(apiVersion)} is not served: use ${POLICY_API_VERSION} (v1alpha1 and v1beta1 are gone since Kubernetes 1.24)`,
      );
    }
    // A missing kind is fine upstream: the decoder takes it from the type it decodes into.
    if (kind !== '' && kind !== 'Policy')
      ctx.errors.push(`${at(ctx, f.get('kind'))}: kind ${goJSON(kind)} is not Policy`);
    const meta = f.get('metadata') ?? null;
    if (!isNull(meta)) fields(ctx, meta, 'metadata', OBJECT_META_FIELDS);
  }
  const policy: Policy = {
    rules: readList(ctx, f.get('rules') ?? null, 'rules', (n, p) => readRule(ctx, n, p)),
    omitStages: readStrings(ctx, f.get('omitStages') ?? null, 'omitStages'),
    omitManagedFields: readBool(ctx, f.get('omitManagedFields') ?? null, 'omitManagedFields') ?? false,
  };
  if (ctx.errors.length > 0) {
    throw fail(ctx.errors.join('\n'));
  }
  return policy;
}

/** Decode, validate, and refuse an empty rule list, as policy.LoadPolicyFromBytes does at API server start. */
export function loadPolicy(text: string, source: string, opts: { groupWildcard?: boolean } = {}): Policy {
  const policy = decodePolicy(text, source);
  const errs = validatePolicy(policy, opts);
  if (errs.length > 0) {
    const detail = aggregateMessage(errs);
    throw new PolicyLoadError('validate', detail, `${source}: ${detail}`, DOCS_HINT);
  }
  if (policy.rules.length === 0) {
    const detail = 'loaded illegal policy with 0 rules';
    throw new PolicyLoadError(
      'empty',
      detail,
      `${source}: ${detail}`,
      'add at least one rule; a last rule `- level: Metadata` catches the rest',
    );
  }
  return policy;
}
