/**
 * What `top` can group events by (--by), kept apart from the grouping itself so that the command
 * line can offer them without loading it.
 */
export const GROUP_KEYS = ['user', 'verb', 'resource', 'namespace', 'code', 'useragent', 'stage', 'sink'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

/** The question asked most: who does what to which resource. */
export const DEFAULT_GROUP_KEYS: readonly GroupKey[] = ['user', 'verb', 'resource'];
