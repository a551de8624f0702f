/**
 * The rules `policy suggest` considers, from the classes of requests it may cut (suggestScope.ts),
 * each as wide as what it covers and no wider:
 *   - a system user's reads, or those of a node group or a namespace's service accounts: None,
 *     for exactly the verbs and resources seen;
 *   - reads the base policy logs with bodies (Request, RequestResponse), one rule per API group:
 *     Metadata, for the verbs and resources seen;
 *   - reads of a family of well-known URLs (suggestScope.ts URL_FAMILIES): None, for the patterns
 *     of that family some request matched.
 * Protected requests that a candidate would match are dealt with later, by fitRule. Pure.
 */
import { levelRank } from './model.js';
import { blankRule, type TrafficClass } from './suggestTraffic.js';
import { combinedResource, ruleMatches, type RuleShape, shape } from './suggestRule.js';
import { isRead, isSystemUser, nameable, systemGroups, URL_FAMILIES } from './suggestScope.js';

/** The classes a rule may cut: unprotected reads the base policy writes something for, with names a rule can carry. */
export function cuttable(c: TrafficClass): boolean {
  return c.protectedBy === null && isRead(c.attrs) && c.tally.policy.bytes > 0 && nameable(c.attrs);
}

/** Verbs and resources seen, grouped under a key, as a rule would list them. */
class Buckets {
  private readonly byKey = new Map<string, { verbs: Set<string>; resources: Map<string, Set<string>> }>();

  add(key: string, c: TrafficClass): void {
    let b = this.byKey.get(key);
    if (b === undefined) {
      b = { verbs: new Set(), resources: new Map() };
      this.byKey.set(key, b);
    }
    b.verbs.add(c.attrs.verb);
    const group = c.attrs.apiGroup;
    (b.resources.get(group) ?? b.resources.set(group, new Set()).get(group)!).add(combinedResource(c.attrs));
  }

  shapes(make: (key: string) => Omit<RuleShape, 'verbs' | 'resources'>): RuleShape[] {
    return [...this.byKey.entries()].map(([key, b]) =>
      shape({
        ...make(key),
        verbs: [...b.verbs],
        resources: [...b.resources.entries()].map(([group, res]) => ({ group, resources: [...res] })),
      }),
    );
  }
}

const none = { level: 'None' as const, users: [], userGroups: [], namespaces: [], nonResourceURLs: [] };

/** Every candidate rule for `classes` (the ones no suggested rule matches yet). */
export function candidates(classes: readonly TrafficClass[]): RuleShape[] {
  const byUser = new Buckets();
  const byGroup = new Buckets();
  const byApiGroup = new Buckets();
  const urls = new Map<number, { verbs: Set<string>; patterns: Set<string> }>();
  for (const c of classes) {
    if (!cuttable(c)) continue;
    const a = c.attrs;
    if (!a.resourceRequest) {
      URL_FAMILIES.forEach((family, i) => {
        const hit = family.patterns.filter((u) => ruleMatches({ ...blankRule('None'), nonResourceURLs: [u] }, a));
        if (hit.length === 0) return;
        const f = urls.get(i) ?? urls.set(i, { verbs: new Set(), patterns: new Set() }).get(i)!;
        f.verbs.add(a.verb);
        for (const u of hit) f.patterns.add(u);
      });
      continue;
    }
    if (isSystemUser(a.user)) {
      byUser.add(a.user, c);
      for (const g of systemGroups(a)) byGroup.add(g, c);
    }
    if (levelRank(c.base.level) > levelRank('Metadata')) byApiGroup.add(a.apiGroup, c);
  }
  return [
    ...byUser.shapes((user) => ({ ...none, users: [user] })),
    ...byGroup.shapes((group) => ({ ...none, userGroups: [group] })),
    ...byApiGroup.shapes(() => ({ ...none, level: 'Metadata' })),
    ...[...urls.values()].map((f) =>
      shape({ ...none, verbs: [...f.verbs], resources: [], nonResourceURLs: [...f.patterns] }),
    ),
  ];
}
