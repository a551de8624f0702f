/**
 * What `audit-lab policy test` says about each event and in total: the decision for an event,
 * its size at the new level, and the tally of events and bytes per level, captured against what
 * the policy would log. Pure.
 */
import { eventAtLevel } from './level.js';
import { isObject, LEVELS, type Level, levelRank } from './model.js';
import {
  type Decision,
  eventAttributes,
  type GroupResources,
  type PolicyEvaluator,
  type PolicyRule,
} from './policyEngine.js';

const MAX_LIST = 3;

function list(values: readonly string[]): string {
  const shown = values.slice(0, MAX_LIST).map((v) => (v === '' ? '""' : v));
  return values.length > MAX_LIST ? `${shown.join(',')},+${values.length - MAX_LIST}` : shown.join(',');
}

function groupResources(gr: GroupResources): string {
  const group = gr.group === '' ? '' : `${gr.group}/`;
  const res =
    gr.resources.length === 0 ? '*' : gr.resources.length === 1 ? gr.resources[0]! : `{${list(gr.resources)}}`;
  return `${group}${res}${gr.resourceNames.length > 0 ? `[${list(gr.resourceNames)}]` : ''}`;
}

/** A rule in one short line: what it selects, without its level. "everything" for a catch-all. */
export function describeRule(rule: PolicyRule): string {
  const parts: string[] = [];
  if (rule.users.length > 0) parts.push(`users=${list(rule.users)}`);
  if (rule.userGroups.length > 0) parts.push(`groups=${list(rule.userGroups)}`);
  if (rule.verbs.length > 0) parts.push(`verbs=${list(rule.verbs)}`);
  if (rule.namespaces.length > 0) parts.push(`ns=${list(rule.namespaces)}`);
  if (rule.resources.length > 0) {
    const shown = rule.resources.slice(0, MAX_LIST).map(groupResources);
    if (rule.resources.length > MAX_LIST) shown.push(`+${rule.resources.length - MAX_LIST}`);
    parts.push(`resources=${shown.join(',')}`);
  } else if (rule.nonResourceURLs.length > 0 && rule.namespaces.length === 0)
    parts.push(`urls=${list(rule.nonResourceURLs)}`);
  return parts.length > 0 ? parts.join(' ') : 'everything';
}

export interface EventVerdict {
  auditID: string;
  stage: string;
  verb: string;
  user: string;
  /** group/resource/subresource ns/name, or the URL path. */
  request: string;
  capturedLevel: string;
  decision: Decision;
  omitted: boolean;
  logged: boolean;
  /** The policy gives more than was captured: the estimate cannot include what was never recorded. */
  underCaptured: boolean;
  capturedBytes: number;
  /** Bytes of the line the API server would write under the policy, 0 when it writes none. */
  estimatedBytes: number;
}

const s = (v: unknown) => (typeof v === 'string' ? v : '');

function requestOf(event: Record<string, unknown>): string {
  const ref = event.objectRef;
  if (isObject(ref)) {
    const res = [s(ref.apiGroup), s(ref.resource), s(ref.subresource)].filter((x) => x !== '').join('/');
    const obj = [s(ref.namespace), s(ref.name)].filter((x) => x !== '').join('/');
    return obj === '' ? res || '-' : `${res || '-'} ${obj}`;
  }
  const uri = s(event.requestURI);
  return uri === '' ? '-' : (uri.split('?', 1)[0] ?? uri);
}

/** The verdict on one stored event; `lineBytes` is the stored line's size without its newline. */
export function judge(evaluator: PolicyEvaluator, event: Record<string, unknown>, lineBytes: number): EventVerdict {
  const decision = evaluator.evaluate(eventAttributes(event));
  const stage = s(event.stage);
  const omitted = (decision.omitStages as readonly string[]).includes(stage);
  const logged = decision.level !== 'None' && !omitted;
  const capturedLevel = s(event.level);
  const captured = LEVELS.includes(capturedLevel as Level)
    ? levelRank(capturedLevel as Level)
    : levelRank('RequestResponse');
  return {
    auditID: s(event.auditID),
    stage,
    verb: s(event.verb),
    user: isObject(event.user) ? s(event.user.username) : '',
    request: requestOf(event),
    capturedLevel,
    decision,
    omitted,
    logged,
    underCaptured: logged && levelRank(decision.level) > captured,
    capturedBytes: lineBytes + 1,
    estimatedBytes: logged
      ? Buffer.byteLength(
          JSON.stringify(eventAtLevel(event, decision.level, { omitManagedFields: decision.omitManagedFields })),
          'utf8',
        ) + 1
      : 0,
  };
}

export interface Count {
  events: number;
  bytes: number;
}

export interface Tally {
  captured: Count & { byLevel: Record<string, Count> };
  policy: Count & { byLevel: Record<Exclude<Level, 'None'>, Count>; droppedNone: number; droppedStage: number };
  underCaptured: number;
}

export function newTally(): Tally {
  const zero = (): Count => ({ events: 0, bytes: 0 });
  return {
    captured: { ...zero(), byLevel: {} },
    policy: {
      ...zero(),
      byLevel: { Metadata: zero(), Request: zero(), RequestResponse: zero() },
      droppedNone: 0,
      droppedStage: 0,
    },
    underCaptured: 0,
  };
}

export function addToTally(t: Tally, v: EventVerdict): void {
  t.captured.events++;
  t.captured.bytes += v.capturedBytes;
  const key = v.capturedLevel || '(none)';
  t.captured.byLevel[key] ??= { events: 0, bytes: 0 };
  const c = t.captured.byLevel[key];
  c.events++;
  c.bytes += v.capturedBytes;
  if (v.decision.level === 'None') t.policy.droppedNone++;
  else if (v.omitted) t.policy.droppedStage++;
  else {
    const p = t.policy.byLevel[v.decision.level];
    p.events++;
    p.bytes += v.estimatedBytes;
    t.policy.events++;
    t.policy.bytes += v.estimatedBytes;
  }
  if (v.underCaptured) t.underCaptured++;
}
