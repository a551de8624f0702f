/**
 * What `audit-lab policy suggest` may cut, and what it never touches. Pure.
 *
 * Protected, whatever the traffic: writes (every verb that is not a read, so create, update,
 * patch, delete, deletecollection and the rarer ones: bind, escalate, impersonate, approve...),
 * any access to secrets, authentication and authorization failures (401, 403: a 401 has no user),
 * and the subresources that open a channel into a workload: exec, attach, portforward and proxy
 * (proxy carries whatever the proxied service accepts, writes included). A suggested rule may
 * match no request of the input that is protected; since a rule cannot see response codes, a read
 * that was once refused protects every request that looks the same to a rule. Beyond the input,
 * suggestProof.ts holds every rule to the same for every write, secret, channel and request
 * without a user, whatever its names.
 *
 * What may be cut: reads by system users and controllers (get, list, watch of resources), reads
 * of the well-known non-resource URLs (health checks, metrics, version, OpenAPI, discovery), and
 * the bodies of any read logged above Metadata.
 */
import { dns1123SubdomainErrors } from './model.js';
import type { RequestAttributes } from './policyEngine.js';

/** Why an event is protected, for the report. */
export type ProtectedReason = 'write' | 'secret' | 'denied' | 'exec';

/** Resource reads, as RequestInfo names their verbs. */
export const READ_VERBS: readonly string[] = ['get', 'list', 'watch'];
/** Non-resource reads: their verb is the HTTP method, lower case. */
export const URL_READ_VERBS: readonly string[] = ['get', 'head'];

export const CHANNEL_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward', 'proxy']);
const DENIED_CODES = new Set([401, 403]);

/** Whether the request only reads. */
export function isRead(a: RequestAttributes): boolean {
  return (a.resourceRequest ? READ_VERBS : URL_READ_VERBS).includes(a.verb);
}

/** Why this request must keep the level the base policy gives it; null when it may be cut. */
export function protectedReason(a: RequestAttributes, code: number | undefined): ProtectedReason | null {
  if ((code !== undefined && DENIED_CODES.has(code)) || a.noUser === true) return 'denied';
  if (a.resourceRequest && a.resource === 'secrets') return 'secret';
  if (a.resourceRequest && CHANNEL_SUBRESOURCES.has(a.subresource)) return 'exec';
  if (!isRead(a)) return 'write';
  return null;
}

// Kubernetes' own identities: `system:` users (controllers, the scheduler, kube-proxy, nodes as
// system:node:NAME, service accounts as system:serviceaccount:NS:NAME). Anonymous requests are
// no controller's, and their reads are kept.
const NOT_A_CONTROLLER = new Set(['system:anonymous']);
const NODE_GROUP = 'system:nodes';
const SERVICE_ACCOUNT_NAMESPACE_GROUP = /^system:serviceaccounts:[^:]+$/;

/** Whether `user` is one of Kubernetes' own identities, whose reads may be dropped. */
export function isSystemUser(user: string): boolean {
  return user.startsWith('system:') && !NOT_A_CONTROLLER.has(user);
}

/**
 * The groups a rule for a system user's reads may name instead of the user: the nodes, and the
 * service accounts of one namespace (never all service accounts, which is too wide to suggest).
 */
export function systemGroups(a: RequestAttributes): string[] {
  if (!isSystemUser(a.user)) return [];
  return a.groups.filter((g) => g === NODE_GROUP || SERVICE_ACCOUNT_NAMESPACE_GROUP.test(g));
}

/** A family of well-known non-resource URLs, read by machines all the time. */
export interface UrlFamily {
  name: string;
  /** nonResourceURLs patterns, as a rule writes them (a trailing * is a prefix). */
  patterns: readonly string[];
}

export const URL_FAMILIES: readonly UrlFamily[] = [
  { name: 'health checks', patterns: ['/healthz*', '/livez*', '/readyz*'] },
  { name: 'metrics', patterns: ['/metrics*'] },
  { name: 'version', patterns: ['/version'] },
  { name: 'OpenAPI', patterns: ['/openapi*'] },
  { name: 'API discovery', patterns: ['/api', '/api/*', '/apis', '/apis/*'] },
];

// Characters a name must not hold to be written into a rule and a comment: controls (C0, DEL, C1
// with NEL), the line and paragraph separators, which YAML 1.1 readers (the API server's) take
// as line breaks, bidi controls and the byte order mark.
const UNNAMEABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

// Names a rule would read as more than themselves (upstream checker.go): a resource "*", "*/sub"
// or "res/*" (which also matches res itself), so no "*" and no "/" in a resource or subresource,
// which a rule joins with "/"; an API group "*", or any other the loader refuses (it must be a DNS
// subdomain); a URL "*" or ending in "*". Namespaces are exact upstream, but "*" there reads as
// "all" to a person, and no real namespace has it: kept out too. Rules never carry resourceNames.
const PATTERN = /[*]/;
const literalResource = (name: string) => !PATTERN.test(name) && !name.includes('/');

/**
 * Whether every name of the request can be written into a rule as it is, and read back the same,
 * by the API server and by a person: the names a rule would carry for it are exactly its own.
 */
export function nameable(a: RequestAttributes): boolean {
  if (
    [a.user, ...a.groups, a.verb, a.namespace, a.apiGroup, a.resource, a.subresource, a.path].some((n) =>
      UNNAMEABLE.test(n),
    )
  )
    return false;
  if (PATTERN.test(a.namespace) || PATTERN.test(a.path)) return false;
  if (!a.resourceRequest) return true;
  return (
    literalResource(a.resource) &&
    literalResource(a.subresource) &&
    (a.apiGroup === '' || dns1123SubdomainErrors(a.apiGroup).length === 0)
  );
}
