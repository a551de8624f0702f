import { isIP } from 'node:net';
import { UserError } from '../errors.js';

/** Path of the static-mode endpoint; only a client certificate signed by the lab CA may post there. */
export const STATIC_PATH = '/events';
export const HEALTH_PATH = '/healthz';

/** Dynamic mode: AuditSinks cannot send client certificates, so each sink's URL carries a secret token. */
export function sinkPath(sinkName: string, token: string): string {
  return `/sinks/${encodeURIComponent(sinkName)}/${encodeURIComponent(token)}`;
}

/** Whether a listen address is every interface of the machine. */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]';
}

/** What a receiver listening on every interface means, said wherever one is started; null when it does not. */
export function everyInterfaceWarning(address: string): string | null {
  if (!isWildcardAddress(address)) return null;
  return (
    `the receiver listens on every interface (${address}): any machine that reaches this one can connect. ` +
    "Writes still need the lab's client certificate (static) or a sink token (dynamic); to keep others out, " +
    "use `serve --address 127.0.0.1`, or `audit-lab up`, which listens on the kind network's gateway only"
  );
}

/** An address clients on this machine can connect to: a wildcard listen address is not one. */
export function localAddress(address: string): string {
  if (address === '0.0.0.0' || address === '') return '127.0.0.1';
  if (address === '::' || address === '[::]') return '::1';
  return address;
}

/**
 * Where an AuditSink's webhook posts, dynamic mode: the sink's own --url, or the receiver's URL for
 * the sink with the lab CA to trust for it (an external URL is trusted as the API server trusts it).
 */
export function sinkWebhook(
  sink: { name: string; token: string; url?: string },
  receiverHost: string,
  port: number,
  caPem: string,
): { endpoint: string; caPem?: string } {
  if (sink.url !== undefined) return { endpoint: sink.url };
  return { endpoint: receiverUrl(receiverHost, port, sinkPath(sink.name, sink.token)), caPem };
}

export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function receiverUrl(host: string, port: number, path = ''): string {
  return `https://${hostForUrl(host)}:${port}${path}`;
}

/**
 * How a kind node reaches this machine when `up` has not learned it yet. On Docker Desktop this
 * name works; on Linux `up` replaces it with the kind network's gateway once the network exists.
 */
export const FALLBACK_NODE_HOST = 'host.docker.internal';

const HOSTNAME = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/;

/** A host name or IP address given by a flag (IPv6 may come in brackets), without the brackets. */
export function parseHost(flag: string, value: string, hint: string): string {
  const bare = value.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 0 && !HOSTNAME.test(bare)) {
    throw new UserError(`${flag} ${JSON.stringify(value)} is not a host name or IP address`, hint);
  }
  return bare;
}
