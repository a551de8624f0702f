/**
 * One event as a list row: the few fields a row shows, cut and made visible once, the repeated ones (verbs, users,
 * resources...) shared through a bounded intern table. The full event is not kept: 100,000 rows stay small, and the
 * request view asks the server for the event again.
 */
import { cut, field, str } from './text';
import type { EventItem } from './types';

export interface Row {
  id: string;
  auditID: string;
  time: string;
  stage: string;
  verb: string;
  user: string;
  code: string;
  resource: string;
  namespace: string;
  name: string;
  sink: string;
  uri: string;
}

const MAX_INTERNED = 50_000;
const interned = new Map<string, string>();

function intern(s: string): string {
  const got = interned.get(s);
  if (got !== undefined) return got;
  if (interned.size < MAX_INTERNED) interned.set(s, s);
  return s;
}

/** The shown text of a field: visible, cut to `max`, interned. */
function shown(v: unknown, max = 120): string {
  return intern(cut(str(v), max));
}

export function toRow(item: EventItem): Row {
  const e = item.event;
  const resource = str(field(e, 'objectRef', 'resource'));
  const sub = str(field(e, 'objectRef', 'subresource'));
  return {
    id: item.id,
    auditID: str(e.auditID).slice(0, 200),
    time: shown(e.stageTimestamp ?? e.requestReceivedTimestamp, 40),
    stage: shown(e.stage, 30),
    verb: shown(e.verb, 30),
    user: shown(field(e, 'user', 'username')),
    code: shown(field(e, 'responseStatus', 'code'), 10),
    resource: shown(sub ? `${resource}/${sub}` : resource),
    namespace: shown(field(e, 'objectRef', 'namespace')),
    name: shown(field(e, 'objectRef', 'name')),
    sink: shown(item.sink ?? '', 60),
    uri: cut(str(e.requestURI), 200),
  };
}

/** The time of day of an RFC 3339 timestamp as a row shows it (the date is in the title). */
export function timeOfDay(t: string): string {
  const m = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(t);
  return m ? m[1]! : t;
}
