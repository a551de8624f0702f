/**
 * Each control-plane component's command line and its readiness probe, for the binary provider:
 * etcd, kube-apiserver, kube-controller-manager and kube-scheduler as local processes, every one
 * bound to 127.0.0.1 and speaking TLS with the control plane's own CA (pki.ts). Flags differ by
 * Kubernetes version: each difference here was found by running the real binaries.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { Throttle } from '../audit/model.js';
import { UserError } from '../errors.js';
import type { Mode } from '../lab/mode.js';
import { apiServerArgs } from '../render/kindConfig.js';
import type { ControlPlanePorts } from '../lab/state.js';
import { type Component, COMPONENTS } from './binaries.js';
import { type CertFiles, type ControlPlaneFiles, SERVICE_CIDR } from './pki.js';

export type { Component } from './binaries.js';
export type { ControlPlanePorts } from '../lab/state.js';

export interface ComponentInput {
  /** The Kubernetes version of the binaries, e.g. 'v1.37.2' or 'v1.18.19'. */
  version: string;
  mode: Mode;
  files: ControlPlaneFiles;
  ports: ControlPlanePorts;
  /** static mode: the lab's audit files on this machine, and the webhook batching. */
  audit: { policyFile: string; webhookKubeconfig: string; batchMaxWait: string; throttle: Throttle };
}

/** The order they start in: each needs the one before it to answer. */
export const START_ORDER: readonly Component[] = COMPONENTS;

const HOST = '127.0.0.1';
/** The issuer of service-account tokens, as kubeadm's clusters name it. */
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc';
/** One readiness request's limit: a probe is asked again and again, a slow answer is just "not yet". */
const PROBE_TIMEOUT_MS = 3000;

/** The minor version of a Kubernetes 1.x version ('v1.18.19' -> 18). */
export function kubeMinor(version: string): number {
  const m = /^v?1\.(\d+)(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]*)?$/.exec(version);
  if (!m) {
    throw new UserError(
      `${JSON.stringify(version)} is not a Kubernetes 1.x version`,
      'give a version such as v1.37.2 or v1.18.19',
    );
  }
  return Number(m[1]);
}

/**
 * Whether the component still serves plain HTTP unless told --port=0 (--insecure-port=0 for
 * kube-apiserver): the API server until 1.20 made that flag a no-op, the controller-manager and
 * the scheduler until 1.22; the flags were removed later (1.37 refuses them).
 */
function servesInsecurely(c: Component, minor: number): boolean {
  if (c === 'kube-apiserver') return minor < 20;
  if (c === 'kube-controller-manager' || c === 'kube-scheduler') return minor < 22;
  return false;
}

const flags = (args: Record<string, string>): string[] => Object.entries(args).map(([k, v]) => `--${k}=${v}`);

function etcdArgs(input: ComponentInput): string[] {
  const { files, ports } = input;
  const client = `https://${HOST}:${ports.etcd}`;
  const peer = `http://${HOST}:${ports.etcdPeer}`;
  return flags({
    name: 'audit-lab',
    'data-dir': input.files.etcdData,
    'listen-client-urls': client,
    'advertise-client-urls': client,
    'listen-peer-urls': peer,
    'initial-advertise-peer-urls': peer,
    'initial-cluster': `audit-lab=${peer}`,
    'cert-file': files.etcdServer.cert,
    'key-file': files.etcdServer.key,
    // No local user reaches etcd without a certificate from our CA.
    'client-cert-auth': 'true',
    'trusted-ca-file': files.ca,
  });
}

function kubeApiserverArgs(input: ComponentInput, minor: number): string[] {
  const { files, ports } = input;
  const args: Record<string, string> = {
    'advertise-address': HOST,
    'bind-address': HOST,
    'secure-port': String(ports.apiserver),
    'tls-cert-file': files.apiserver.cert,
    'tls-private-key-file': files.apiserver.key,
    'client-ca-file': files.ca,
    'authorization-mode': 'Node,RBAC',
    'etcd-servers': `https://${HOST}:${ports.etcd}`,
    'etcd-cafile': files.ca,
    'etcd-certfile': files.etcdClient.cert,
    'etcd-keyfile': files.etcdClient.key,
    'service-account-issuer': SERVICE_ACCOUNT_ISSUER,
    'service-account-key-file': files.serviceAccount.pub,
    'service-account-signing-key-file': files.serviceAccount.key,
    'service-cluster-ip-range': SERVICE_CIDR,
    // No cluster network: the kubernetes Service would point at 127.0.0.1, which no pod can reach.
    'endpoint-reconciler-type': 'none',
  };
  if (servesInsecurely('kube-apiserver', minor)) args['insecure-port'] = '0';
  const audit = apiServerArgs(
    { mode: input.mode, batchMaxWait: input.audit.batchMaxWait, throttle: input.audit.throttle },
    { policyFile: input.audit.policyFile, webhookKubeconfig: input.audit.webhookKubeconfig },
  );
  return flags({ ...args, ...audit });
}

/** What the controller-manager and the scheduler share: who they are, and their secure port on loopback. */
function delegatedArgs(kubeconfig: string, serving: CertFiles, port: number): Record<string, string> {
  return {
    kubeconfig,
    'authentication-kubeconfig': kubeconfig,
    'authorization-kubeconfig': kubeconfig,
    'leader-elect': 'false',
    'bind-address': HOST,
    'secure-port': String(port),
    'tls-cert-file': serving.cert,
    'tls-private-key-file': serving.key,
  };
}

function controllerManagerArgs(input: ComponentInput, minor: number): string[] {
  const { files, ports } = input;
  const args: Record<string, string> = {
    ...delegatedArgs(files.kubeconfig.controllerManager, files.controllerManagerServing, ports.controllerManager),
    'use-service-account-credentials': 'true',
    'service-account-private-key-file': files.serviceAccount.key,
    'root-ca-file': files.ca,
  };
  if (servesInsecurely('kube-controller-manager', minor)) args.port = '0';
  return flags(args);
}

function schedulerArgs(input: ComponentInput, minor: number): string[] {
  const { files, ports } = input;
  const args = delegatedArgs(files.kubeconfig.scheduler, files.schedulerServing, ports.scheduler);
  if (servesInsecurely('kube-scheduler', minor)) args.port = '0';
  return flags(args);
}

/** The component's arguments (not the binary), for `version` and `mode`. */
export function componentArgs(c: Component, input: ComponentInput): string[] {
  const minor = kubeMinor(input.version);
  switch (c) {
    case 'etcd':
      return etcdArgs(input);
    case 'kube-apiserver':
      return kubeApiserverArgs(input, minor);
    case 'kube-controller-manager':
      return controllerManagerArgs(input, minor);
    case 'kube-scheduler':
      return schedulerArgs(input, minor);
  }
}

interface Probe {
  port: number;
  path: string;
  /** A client certificate to present, or none (the endpoint allows anonymous requests). */
  client?: CertFiles;
  /** Whether the answer (status 200 already checked) means ready. */
  accept?: (body: string) => boolean;
}

function probeOf(c: Component, input: ComponentInput): Probe {
  const { files, ports } = input;
  switch (c) {
    case 'etcd':
      return { port: ports.etcd, path: '/health', client: files.etcdClient, accept: etcdHealthy };
    case 'kube-apiserver':
      return { port: ports.apiserver, path: '/readyz', client: files.admin };
    case 'kube-controller-manager':
      return { port: ports.controllerManager, path: '/healthz' };
    case 'kube-scheduler':
      return { port: ports.scheduler, path: '/healthz' };
  }
}

function etcdHealthy(body: string): boolean {
  try {
    return (JSON.parse(body) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}

/** One GET over TLS trusting only `ca`: its status and body, or null on any error or after the timeout. */
function get(port: number, path: string, tls: { ca: string; cert?: string; key?: string }): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(
      { host: HOST, port, path, method: 'GET', agent: false, timeout: PROBE_TIMEOUT_MS, ...tls },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 64 * 1024) body += chunk;
        });
        res.on('end', () => resolve(res.statusCode === 200 ? body : null));
        res.on('error', () => resolve(null));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

/**
 * Whether the component answers as ready: etcd's /health says {"health":"true"} to the API
 * server's etcd client certificate; kube-apiserver's /readyz answers 200 to the admin; the
 * controller-manager's and scheduler's /healthz answer 200 on their secure port. Each call is one
 * request with a short timeout, over a connection of its own, trusting only the control plane CA:
 * false on any error. The files are read at each call, so a probe made before they exist works.
 */
export function readiness(c: Component, input: ComponentInput): () => Promise<boolean> {
  const probe = probeOf(c, input);
  return async () => {
    try {
      const ca = await readFile(input.files.ca, 'utf8');
      const client = probe.client
        ? { cert: await readFile(probe.client.cert, 'utf8'), key: await readFile(probe.client.key, 'utf8') }
        : {};
      const body = await get(probe.port, probe.path, { ca, ...client });
      return body !== null && (probe.accept?.(body) ?? true);
    } catch {
      return false;
    }
  };
}
