/**
 * Cutting an audit event down to a level, the one rule everyone uses: the receiver for a sink's or
 * a sink policy's level, `policy test` for the line the API server would write. As k8s.io/apiserver
 * does: requestObject is kept from Request up, responseObject from RequestResponse, and a policy's
 * omitManagedFields removes managedFields from the objects that stay.
 */
import { isObject, isLevel, type Level, levelRank } from './model.js';

const RANK_REQUEST = levelRank('Request');
const RANK_REQUEST_RESPONSE = levelRank('RequestResponse');

/** The members of an event that its level decides. */
export interface LevelledFields {
  level?: unknown;
  requestObject?: unknown;
  responseObject?: unknown;
}

export interface CutOptions {
  /** Remove managedFields from the objects kept (a policy rule's omitManagedFields). */
  omitManagedFields?: boolean;
  /**
   * An event captured below `level` keeps its own level: it holds no more than that, so the
   * receiver never labels it higher. `policy test` leaves this off: its line is the one the API
   * server would write under the policy, labelled with the policy's level.
   */
  keepLowerLevel?: boolean;
}

/** The level an event at `eventLevel` is labelled with once cut to `level`. */
function labelAt(eventLevel: unknown, level: Level, keepLowerLevel: boolean): unknown {
  if (!keepLowerLevel) return level;
  return typeof eventLevel === 'string' && isLevel(eventLevel) && levelRank(eventLevel) < levelRank(level)
    ? eventLevel
    : level;
}

function withoutManagedFields(obj: unknown): unknown {
  if (!isObject(obj)) return obj;
  let out = obj;
  if (isObject(obj.metadata) && 'managedFields' in obj.metadata) {
    const { managedFields: _dropped, ...metadata } = obj.metadata;
    out = { ...out, metadata };
  }
  // Lists: the API server strips each item's too.
  if (Array.isArray(obj.items)) out = { ...out, items: obj.items.map(withoutManagedFields) };
  return out;
}

/**
 * The event cut to `level`. Pure: the event itself is never modified (every sink sees the same
 * one), and it is returned as it is when the cut changes nothing. A copy keeps the members' order,
 * so the stored line reads like the API server's own.
 */
export function eventAtLevel<E extends LevelledFields>(event: E, level: Level, opts: CutOptions = {}): E {
  const rank = levelRank(level);
  const label = labelAt(event.level, level, opts.keepLowerLevel ?? false);
  const stripRequest = rank < RANK_REQUEST && event.requestObject !== undefined;
  const stripResponse = rank < RANK_REQUEST_RESPONSE && event.responseObject !== undefined;
  const omit = opts.omitManagedFields ?? false;
  if (label === event.level && !stripRequest && !stripResponse && !omit) return event;
  const out = { ...event, level: label };
  if (stripRequest) delete out.requestObject;
  if (stripResponse) delete out.responseObject;
  if (omit) {
    if (out.requestObject !== undefined) out.requestObject = withoutManagedFields(out.requestObject);
    if (out.responseObject !== undefined) out.responseObject = withoutManagedFields(out.responseObject);
  }
  return out;
}

/**
 * eventAtLevel's cut (with keepLowerLevel) for the receiver's raw lines, where an event is only its
 * head: the same members, a dropped one set to undefined instead of deleted, and nothing copied
 * when nothing changes (a copy per event per level was a fifth of the receiver's time). The
 * receiver's differential test holds the lines built from this equal to eventAtLevel's.
 */
export function membersAtLevel<H extends LevelledFields>(head: H, level: Level): H {
  const rank = levelRank(level);
  const label = labelAt(head.level, level, true);
  const keepRequest = rank >= RANK_REQUEST || head.requestObject === undefined;
  const keepResponse = rank >= RANK_REQUEST_RESPONSE || head.responseObject === undefined;
  if (label === head.level && keepRequest && keepResponse) return head;
  return {
    ...head,
    level: label,
    requestObject: keepRequest ? head.requestObject : undefined,
    responseObject: keepResponse ? head.responseObject : undefined,
  };
}
