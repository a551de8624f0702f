/**
 * Events as `tail` reads them back, and the filters of `audit-lab tail`. Pure: no I/O.
 *
 * What is an event is eventShape.ts's decodeBody, the receiver's own check (auditID, stage and
 * level); past that, reading is lenient on purpose: streams are files a user may edit,
 * concatenate or copy from an API server's own --audit-log-path, so every other field may be
 * missing or of the wrong type, and nothing here may throw on a strange event. Only the flags are
 * strict (a bad flag is exit 2).
 */
import { UserError } from '../errors.js';
import { isObject, STAGES } from './model.js';
import { resourcesMatcher } from './policyEngine.js';
import { canonicalResource } from './resourceNames.js';

export interface StoredUser {
  username?: unknown;
  uid?: unknown;
  groups?: unknown;
  [field: string]: unknown;
}

export interface StoredObjectRef {
  resource?: unknown;
  namespace?: unknown;
  name?: unknown;
  apiGroup?: unknown;
  apiVersion?: unknown;
  subresource?: unknown;
  [field: string]: unknown;
}

/** An audit.k8s.io/v1 Event as stored, one per line; see k8s.io/apiserver/pkg/apis/audit/v1. */
export interface StoredEvent {
  kind?: unknown;
  apiVersion?: unknown;
  level?: unknown;
  auditID?: unknown;
  stage?: unknown;
  requestURI?: unknown;
  verb?: unknown;
  user?: StoredUser;
  sourceIPs?: unknown;
  userAgent?: unknown;
  objectRef?: StoredObjectRef;
  responseStatus?: { code?: unknown; [field: string]: unknown };
  requestReceivedTimestamp?: unknown;
  stageTimestamp?: unknown;
  [field: string]: unknown;
}

/**
 * An event object as read: sub-objects of the wrong type are dropped rather than trusted, so later
 * reads need no checks. Changes `raw` in place.
 */
export function asStoredEvent(raw: Record<string, unknown>): StoredEvent {
  for (const k of ['user', 'objectRef', 'responseStatus'] as const)
    if (raw[k] !== undefined && !isObject(raw[k])) delete raw[k];
  return raw as StoredEvent;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

// metav1.MicroTime is RFC 3339 with 6 fraction digits; accept any precision and offset.
const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The minute of the last canonical time read (`2024-05-01T10:00`) and its epoch ms: the API server
 * writes every time as 2024-05-01T10:00:00.000000Z, and events come in time order, so merging
 * files by time parses a minute once, not each of a million times.
 */
let minuteText = '';
let minuteMs = 0;

const digit = (s: string, i: number) => s.charCodeAt(i) - 0x30;
const isDigits = (s: string, from: number, to: number) => {
  for (let i = from; i < to; i++) if (!(s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39)) return false;
  return true;
};

/** µs of a time in the API server's own form (27 characters, 6 fraction digits, Z) whose minute was just read; else undefined. */
function canonicalMicros(value: string): number | undefined {
  if (
    value.length !== 27 ||
    value.charCodeAt(26) !== 0x5a ||
    value.charCodeAt(19) !== 0x2e ||
    value.charCodeAt(16) !== 0x3a
  )
    return undefined;
  if (!value.startsWith(minuteText) || minuteText === '' || !isDigits(value, 17, 19) || !isDigits(value, 20, 26))
    return undefined;
  const seconds = digit(value, 17) * 10 + digit(value, 18);
  if (seconds > 59) return undefined;
  let micros = 0;
  for (let i = 20; i < 26; i++) micros = micros * 10 + digit(value, i);
  return (minuteMs + seconds * 1000) * 1000 + micros;
}

/** An RFC 3339 time in microseconds since the epoch (Date keeps only milliseconds; latency needs µs). */
export function timestampMicros(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const fast = canonicalMicros(value);
  if (fast !== undefined) return fast;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const zone = m[4]!.toUpperCase();
  const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (!Number.isFinite(ms)) return undefined;
  if (value.length === 27 && zone === 'Z' && value[10] === 'T' && m[3]?.length === 6) {
    minuteText = value.slice(0, 16);
    minuteMs = ms - Number(m[2]!.slice(6)) * 1000;
  }
  return ms * 1000 + Number((m[3] ?? '').padEnd(6, '0').slice(0, 6));
}

/** When the API server received the request; the stage's time for events that lack it. */
export function eventTime(e: StoredEvent): number | undefined {
  return timestampMicros(e.requestReceivedTimestamp) ?? timestampMicros(e.stageTimestamp);
}

/** stageTimestamp - requestReceivedTimestamp in microseconds, when both are there. */
export function latencyMicros(e: StoredEvent): number | undefined {
  const received = timestampMicros(e.requestReceivedTimestamp);
  const stage = timestampMicros(e.stageTimestamp);
  return received === undefined || stage === undefined ? undefined : stage - received;
}

export function responseCode(e: StoredEvent): number | undefined {
  const code = e.responseStatus?.code;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/** group/resource/subresource as the --resource flag writes it: pods, pods/log, apps/deployments/scale. */
export function resourceOf(e: StoredEvent): string | undefined {
  const ref = e.objectRef;
  const resource = str(ref?.resource);
  if (ref === undefined || resource === undefined || resource === '') return undefined;
  // Concatenated rather than joined from an array: top asks this of every event it reads.
  const group = str(ref.apiGroup) ?? '';
  const sub = str(ref.subresource) ?? '';
  const named = group === '' ? resource : `${group}/${resource}`;
  return sub === '' ? named : `${named}/${sub}`;
}

// ---------------------------------------------------------------------------------------------
// --since

const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
const UNIT_MICROS: Record<string, number> = {
  ns: 0.001,
  us: 1,
  µs: 1,
  ms: 1_000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
  d: 86_400_000_000,
};

/**
 * Go's duration syntax (10m, 1h30m, 500ms), unsigned, in µs; undefined when it is not one. `days`
 * also takes d (tail --since 2d); a setting the API server reads (--audit-webhook-batch-max-wait)
 * must not, as Go's time.ParseDuration has no d.
 */
export function parseDurationMicros(value: string, opts: { days?: boolean } = { days: true }): number | undefined {
  if (value === '') return undefined;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = DURATION_PART.exec(value); m !== null; m = DURATION_PART.exec(value)) {
    if (m[2] === 'd' && !opts.days) return undefined;
    total += Number(m[1]) * UNIT_MICROS[m[2]!]!;
    end = DURATION_PART.lastIndex;
  }
  return end === value.length ? total : undefined;
}

/** --since as an absolute time in µs: `now` minus a duration, or an RFC 3339 time. */
export function parseSince(value: string, nowMs: number): number {
  const duration = parseDurationMicros(value.trim());
  if (duration !== undefined) return nowMs * 1000 - duration;
  const at = timestampMicros(value.trim());
  if (at !== undefined) return at;
  throw new UserError(
    `--since ${JSON.stringify(value)} is neither a duration nor an RFC 3339 time`,
    'use e.g. --since 10m, --since 2h, or --since 2024-05-01T10:00:00Z',
  );
}

// ---------------------------------------------------------------------------------------------
// filters

export interface FilterFlags {
  verb: readonly string[];
  user: readonly string[];
  namespace: readonly string[];
  resource: readonly string[];
  stage: readonly string[];
  code: readonly string[];
}

export type EventPredicate = (e: StoredEvent) => boolean;

/**
 * A --resource value. `resource` is matched as an audit Policy's GroupResources entry matches
 * (k8s.io/apiserver pkg/audit/policy/checker.go): "pods" is the resource alone, "pods/log" one
 * subresource, "pods/*" the resource and all its subresources, "*\/scale" that subresource of any
 * resource, "*" everything. `group` is ANY_GROUP unless the flag names one (apps/deployments,
 * core/pods, /pods): a user asking for "deployments" means them wherever they are served.
 */
export interface ResourceMatch {
  group: string;
  resource: string;
}

/** The group of a --resource value that names none: matches every group (policy "*" group). */
export const ANY_GROUP = '*';

// Built-in API groups without a dot. Every other group has one (CRD groups must), so a first
// segment without a dot that is not one of these is a resource: pods/log, not group "pods".
const DOTLESS_GROUPS = new Set(['apps', 'autoscaling', 'batch', 'extensions', 'policy']);
const RESOURCE_FORMS =
  'use a resource as kubectl names it (pods, pod, po, deploy), pods/log, pods/*, apps/deployments or apps/deployments/scale (the core group is "" or core)';

export function parseResourceFlag(value: string): ResourceMatch {
  const bad = (why: string) => new UserError(`--resource ${JSON.stringify(value)} ${why}`, RESOURCE_FORMS);
  const parts = value.trim().split('/');
  let group: string;
  let rest: string[];
  if (parts.length === 1) {
    group = ANY_GROUP;
    rest = parts;
  } else if (parts.length === 2) {
    const first = parts[0]!;
    const isGroup = first === '' || first === 'core' || first.includes('.') || DOTLESS_GROUPS.has(first);
    group = isGroup ? (first === 'core' ? '' : first) : ANY_GROUP;
    rest = isGroup ? parts.slice(1) : parts;
  } else if (parts.length === 3) {
    group = parts[0] === 'core' ? '' : parts[0]!;
    rest = parts.slice(1);
  } else {
    throw bad('has too many parts');
  }
  if (rest.some((p) => p === '')) throw bad('has an empty part');
  // Singular and short names (po, deploy) become the plural the events carry; subresources stay.
  rest[0] = canonicalResource(rest[0]!);
  return { group, resource: rest.join('/') };
}

/** Events whose objectRef any of `matches` selects, each matched as a policy rule's resources entry. */
export function resourceFilter(matches: readonly ResourceMatch[]): EventPredicate {
  const matcher = resourcesMatcher(
    matches.map((m) => ({ group: m.group, resources: [m.resource], resourceNames: [] })),
    true,
  );
  return (e) => {
    const ref = e.objectRef;
    const resource = str(ref?.resource);
    if (ref === undefined || resource === undefined || resource === '') return false;
    return matcher({ apiGroup: str(ref.apiGroup) ?? '', resource, subresource: str(ref.subresource) ?? '', name: '' });
  };
}

/** A --code value: one status (403) or a class (4xx). */
export type CodeMatch = { code: number } | { class: number };

export function parseCodeFlag(value: string): CodeMatch {
  const v = value.trim();
  if (/^[1-5]\d\d$/.test(v)) return { code: Number(v) };
  if (/^[1-5]xx$/i.test(v)) return { class: Number(v[0]) };
  throw new UserError(
    `--code ${JSON.stringify(value)} is not an HTTP status code`,
    'use a code such as 403, or a class such as 4xx',
  );
}

export function matchesCode(m: CodeMatch, e: StoredEvent): boolean {
  const code = responseCode(e);
  if (code === undefined) return false;
  return 'code' in m ? code === m.code : Math.floor(code / 100) === m.class;
}

export function parseStageFlag(value: string): string {
  const found = STAGES.find((s) => s.toLowerCase() === value.trim().toLowerCase());
  if (found === undefined) {
    throw new UserError(`--stage ${JSON.stringify(value)} is not an audit stage`, `use one of ${STAGES.join(', ')}`);
  }
  return found;
}

/**
 * One predicate for all the filter flags: the values of one flag are OR-ed, the flags AND-ed, and
 * a flag not given matches everything. Throws a UserError naming the flag for a bad value.
 */
export function buildFilter(flags: FilterFlags): EventPredicate {
  const tests: EventPredicate[] = [];
  if (flags.verb.length > 0) {
    // Verbs are lower case on the wire (get, list, deletecollection; post for non-resource URLs).
    const verbs = new Set(flags.verb.map((v) => v.trim().toLowerCase()));
    tests.push((e) => verbs.has(str(e.verb)?.toLowerCase() ?? '\0'));
  }
  if (flags.user.length > 0) {
    const users = new Set(flags.user);
    tests.push((e) => users.has(str(e.user?.username) ?? '\0'));
  }
  if (flags.namespace.length > 0) {
    // `--namespace ""` asks for what has none: cluster-scoped and non-resource requests.
    const namespaces = new Set(flags.namespace);
    tests.push((e) => namespaces.has(str(e.objectRef?.namespace) ?? ''));
  }
  if (flags.resource.length > 0) {
    tests.push(resourceFilter(flags.resource.map(parseResourceFlag)));
  }
  if (flags.stage.length > 0) {
    const stages = new Set(flags.stage.map(parseStageFlag));
    tests.push((e) => stages.has(str(e.stage) ?? '\0'));
  }
  if (flags.code.length > 0) {
    const codes = flags.code.map(parseCodeFlag);
    tests.push((e) => codes.some((m) => matchesCode(m, e)));
  }
  return (e) => tests.every((t) => t(e));
}
