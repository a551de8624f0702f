/**
 * The control plane's own PKI and kubeconfigs, under <labDir>/controlplane: a CA that is not the
 * lab's (a control-plane client certificate must never be able to post events to the receiver),
 * serving certificates for etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
 * client certificates for kube-apiserver -> etcd and for each identity that talks to the API
 * server, and the service-account signing key. What is missing or unusable is made; what is
 * there and good is kept. The x509 library is loaded only by ensureControlPlanePki: the paths
 * (controlPlaneFiles) and the flags (components.ts) are read by commands that make nothing.
 */
import { type Component, COMPONENTS } from './binaries.js';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { certNames, type PemPair } from '../lab/pki.js';
import type { LeafSpec } from '../lab/pkiIssuer.js';
import { readFileNoFollow } from '../lab/safety.js';

/** A certificate this close to expiry is issued again. */
const RENEW_BEFORE_DAYS = 30;
const DAY = 24 * 60 * 60 * 1000;

function expiresSoon(certPem: string, now: Date): boolean {
  return new Date(new X509Certificate(certPem).validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY;
}

/** The control plane's processes, in the order they start. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface ControlPlaneFiles {
  /** <labDir>/controlplane */
  dir: string;
  /** <dir>/pki (0700) */
  pkiDir: string;
  /** The control plane's CA certificate (its own, not the lab's receiver CA) and its key. */
  ca: string;
  caKey: string;
  /** etcd's serving certificate (127.0.0.1, localhost). */
  etcdServer: CertFiles;
  /** kube-apiserver's client certificate for etcd. */
  etcdClient: CertFiles;
  /** kube-apiserver's serving certificate: loopback and the in-cluster names of the kubernetes Service. */
  apiserver: CertFiles;
  controllerManagerServing: CertFiles;
  schedulerServing: CertFiles;
  /** The client certificates of the controller-manager's and the scheduler's kubeconfigs. */
  controllerManagerClient: CertFiles;
  schedulerClient: CertFiles;
  serviceAccount: { key: string; pub: string };
  /** CN=audit-lab-admin, O=system:masters: kubectl's identity. */
  admin: CertFiles;
  kubeconfig: { admin: string; controllerManager: string; scheduler: string };
  /** etcd's data directory: kept across `down` until `--purge`. */
  etcdData: string;
  logs: Record<Component, string>;
  pids: Record<Component, string>;
}

/** The address range of Services and the API server's address in it (the kubernetes Service). */
export const SERVICE_CIDR = '10.96.0.0/12';
const KUBERNETES_SERVICE_IP = '10.96.0.1';
const LOOPBACK = ['127.0.0.1', 'localhost'];
const APISERVER_NAMES = [
  ...LOOPBACK,
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
  KUBERNETES_SERVICE_IP,
];
export const ADMIN_USER = 'audit-lab-admin';
const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';
const SCHEDULER_USER = 'system:kube-scheduler';

export function controlPlaneFiles(labDir: string): ControlPlaneFiles {
  const dir = join(labDir, 'controlplane');
  const pkiDir = join(dir, 'pki');
  const pair = (name: string): CertFiles => ({ cert: join(pkiDir, `${name}.crt`), key: join(pkiDir, `${name}.key`) });
  const each = (suffix: string) =>
    Object.fromEntries(COMPONENTS.map((c) => [c, join(dir, `${c}${suffix}`)])) as Record<Component, string>;
  return {
    dir,
    pkiDir,
    ca: join(pkiDir, 'ca.crt'),
    caKey: join(pkiDir, 'ca.key'),
    etcdServer: pair('etcd-server'),
    etcdClient: pair('apiserver-etcd-client'),
    apiserver: pair('apiserver'),
    controllerManagerServing: pair('controller-manager-serving'),
    schedulerServing: pair('scheduler-serving'),
    controllerManagerClient: pair('controller-manager-client'),
    schedulerClient: pair('scheduler-client'),
    serviceAccount: { key: join(pkiDir, 'sa.key'), pub: join(pkiDir, 'sa.pub') },
    admin: pair('admin'),
    kubeconfig: {
      admin: join(dir, 'admin.kubeconfig'),
      controllerManager: join(dir, 'controller-manager.kubeconfig'),
      scheduler: join(dir, 'scheduler.kubeconfig'),
    },
    etcdData: join(dir, 'etcd'),
    logs: each('.log'),
    pids: each('.pid'),
  };
}

interface Leaf {
  /** For the user: "etcd's serving certificate". */
  what: string;
  files: CertFiles;
  spec: LeafSpec;
}

function leaves(f: ControlPlaneFiles): Leaf[] {
  return [
    {
      what: "etcd's serving certificate",
      files: f.etcdServer,
      // Both: etcd's gateway dials etcd itself with this certificate when client certificates are required.
      spec: { subject: 'CN=etcd, O=audit-lab', usage: 'both', names: LOOPBACK },
    },
    {
      what: "kube-apiserver's client certificate for etcd",
      files: f.etcdClient,
      spec: { subject: 'CN=kube-apiserver-etcd-client, O=audit-lab', usage: 'client' },
    },
    {
      what: "kube-apiserver's serving certificate",
      files: f.apiserver,
      spec: { subject: 'CN=kube-apiserver, O=audit-lab', usage: 'server', names: APISERVER_NAMES },
    },
    {
      what: "kube-controller-manager's serving certificate",
      files: f.controllerManagerServing,
      spec: { subject: 'CN=kube-controller-manager, O=audit-lab', usage: 'server', names: LOOPBACK },
    },
    {
      what: "kube-scheduler's serving certificate",
      files: f.schedulerServing,
      spec: { subject: 'CN=kube-scheduler, O=audit-lab', usage: 'server', names: LOOPBACK },
    },
    {
      what: "kube-controller-manager's client certificate",
      files: f.controllerManagerClient,
      spec: { subject: `CN=${CONTROLLER_MANAGER_USER}`, usage: 'client' },
    },
    {
      what: "kube-scheduler's client certificate",
      files: f.schedulerClient,
      spec: { subject: `CN=${SCHEDULER_USER}`, usage: 'client' },
    },
    {
      what: 'the admin client certificate (kubectl)',
      files: f.admin,
      spec: { subject: `CN=${ADMIN_USER}, O=system:masters`, usage: 'client' },
    },
  ];
}

/** A file's text, or null when it is missing; a link or any other kind of file throws (readFileNoFollow). */
async function readIfThere(path: string): Promise<string | null> {
  try {
    return await readFileNoFollow(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A certificate and its key as read from disk, or why they cannot be used as they are. */
async function readPair(files: CertFiles): Promise<{ pair: PemPair; cert: X509Certificate } | { why: string }> {
  const [cert, key] = await Promise.all([readIfThere(files.cert), readIfThere(files.key)]);
  if (cert === null && key === null) return { why: '' };
  if (cert === null) return { why: `${files.cert} was missing` };
  if (key === null) return { why: `${files.key} was missing` };
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch {
    return { why: `${files.cert} was not a PEM certificate` };
  }
  try {
    if (!x.checkPrivateKey(createPrivateKey(key))) return { why: `${files.key} was not the key of ${files.cert}` };
  } catch {
    return { why: `${files.key} was not a PEM private key` };
  }
  return { pair: { cert, key }, cert: x };
}

/** The subject as node:crypto prints it ("CN=a\nO=b", in any order) compared with a spec's ("CN=a, O=b"). */
function sameSubject(printed: string, spec: string): boolean {
  const norm = (parts: string[]) => parts.map((p) => p.trim()).sort();
  return norm(printed.split('\n')).join('\n') === norm(spec.split(',')).join('\n');
}

/** Why a leaf on disk must be reissued, or null when it is good. */
function leafProblem(x: X509Certificate, leaf: Leaf, ca: X509Certificate, now: Date): string | null {
  if (!x.checkIssued(ca) || !x.verify(ca.publicKey)) return 'it was not signed by the control plane CA';
  if (expiresSoon(x.toString(), now)) return `it expired or was to expire within ${RENEW_BEFORE_DAYS} days`;
  const want = [...(leaf.spec.names ?? [])].sort().join(',');
  const have = (x.subjectAltName ? certNames(x.toString()) : []).sort().join(',');
  if (want !== have || !sameSubject(x.subject, leaf.spec.subject)) return 'its names were not the ones needed';
  return null;
}

async function writePair(files: CertFiles, pair: PemPair): Promise<void> {
  // Key first: a certificate without its key is found and reissued as such.
  await writeFileAtomic(files.key, pair.key, 0o600);
  await writeFileAtomic(files.cert, pair.cert, 0o644);
}

function said(what: string, path: string, why: string): string {
  return why === '' ? `${what}: ${path}` : `${what}: ${path} (remade: ${why})`;
}

/** The CA on disk when usable, else a new one written (and said in `made`). */
async function ensureCa(
  files: ControlPlaneFiles,
  labName: string,
  now: Date,
  made: string[],
): Promise<{ ca: PemPair; fresh: boolean }> {
  const found = await readPair({ cert: files.ca, key: files.caKey });
  let why = 'why' in found ? found.why : '';
  if ('pair' in found) {
    if (found.cert.ca && !expiresSoon(found.pair.cert, now)) return { ca: found.pair, fresh: false };
    why = found.cert.ca ? `it expired or was to expire within ${RENEW_BEFORE_DAYS} days` : 'it was not a CA';
  }
  const { issueCa } = await import('../lab/pkiIssuer.js');
  const ca = await issueCa(`CN=audit-lab control plane CA (${labName}), O=audit-lab`, now);
  await writePair({ cert: files.ca, key: files.caKey }, ca);
  made.push(said('the control plane CA', files.ca, why));
  return { ca, fresh: true };
}

async function ensureLeaves(
  files: ControlPlaneFiles,
  ca: { ca: PemPair; fresh: boolean },
  now: Date,
  made: string[],
): Promise<void> {
  const { issueLeaf } = await import('../lab/pkiIssuer.js');
  const caCert = new X509Certificate(ca.ca.cert);
  for (const leaf of leaves(files)) {
    const found = await readPair(leaf.files);
    let why: string;
    if ('why' in found) why = found.why;
    else {
      const problem = leafProblem(found.cert, leaf, caCert, now);
      if (problem === null) continue;
      why = ca.fresh ? 'the control plane CA was new' : problem;
    }
    await writePair(leaf.files, await issueLeaf(ca.ca, leaf.spec, now));
    made.push(said(leaf.what, leaf.files.cert, why));
  }
}

/**
 * The service-account signing key (ECDSA P-256: kube-apiserver signs ES256 tokens with it) and
 * its public half, which kube-apiserver verifies tokens with. A missing or broken public key is
 * written again from the private one; a new private key invalidates the tokens already issued.
 */
async function ensureServiceAccountKey(files: ControlPlaneFiles, made: string[]): Promise<void> {
  const { key: keyFile, pub: pubFile } = files.serviceAccount;
  const keyText = await readIfThere(keyFile);
  let key: KeyObject | null = null;
  try {
    key = keyText === null ? null : createPrivateKey(keyText);
  } catch {
    key = null;
  }
  if (key === null) {
    key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    await writeFileAtomic(keyFile, key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    made.push(said('the service-account signing key', keyFile, keyText === null ? '' : 'it was not a PEM private key'));
  }
  const pub = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
  const pubText = await readIfThere(pubFile);
  if (pubText === pub) return;
  await writeFileAtomic(pubFile, pub, 0o644);
  made.push(
    said('the service-account public key', pubFile, pubText === null ? '' : 'it did not match the signing key'),
  );
}

/** A kubeconfig that names its certificate files (absolute paths), so a reissued certificate needs no rewrite. */
export function renderControlPlaneKubeconfig(input: {
  labName: string;
  server: string;
  ca: string;
  user: string;
  client: CertFiles;
}): string {
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: input.labName, cluster: { server: input.server, 'certificate-authority': input.ca } }],
      users: [{ name: input.user, user: { 'client-certificate': input.client.cert, 'client-key': input.client.key } }],
      contexts: [{ name: input.labName, context: { cluster: input.labName, user: input.user } }],
      'current-context': input.labName,
      preferences: {},
    },
    { lineWidth: 0 },
  );
}

async function ensureKubeconfigs(
  files: ControlPlaneFiles,
  labName: string,
  server: string,
  made: string[],
): Promise<void> {
  const kubeconfigs = [
    { what: 'the admin kubeconfig', path: files.kubeconfig.admin, user: ADMIN_USER, client: files.admin },
    {
      what: "kube-controller-manager's kubeconfig",
      path: files.kubeconfig.controllerManager,
      user: CONTROLLER_MANAGER_USER,
      client: files.controllerManagerClient,
    },
    {
      what: "kube-scheduler's kubeconfig",
      path: files.kubeconfig.scheduler,
      user: SCHEDULER_USER,
      client: files.schedulerClient,
    },
  ];
  for (const k of kubeconfigs) {
    const text = renderControlPlaneKubeconfig({ labName, server, ca: files.ca, user: k.user, client: k.client });
    const before = await readIfThere(k.path);
    if (before === text) continue;
    await writeFileAtomic(k.path, text, 0o600);
    made.push(said(k.what, k.path, before === null ? '' : `it named another API server than ${server}`));
  }
}

/**
 * Makes what is missing (keys 0600, directories 0700) or unusable: a CA that is missing, broken or
 * about to expire is made again, and every leaf with it; a leaf that is missing, not its key's,
 * not signed by the CA, about to expire or not naming what it must is reissued. The kubeconfigs
 * are (re)written to name `apiserverUrl`. Returns what it made, for the user, one line each.
 */
export async function ensureControlPlanePki(
  files: ControlPlaneFiles,
  labName: string,
  apiserverUrl: string,
  now = new Date(),
): Promise<string[]> {
  await ensurePrivateDir(files.dir);
  await ensurePrivateDir(files.pkiDir);
  const made: string[] = [];
  const ca = await ensureCa(files, labName, now, made);
  await ensureLeaves(files, ca, now, made);
  await ensureServiceAccountKey(files, made);
  await ensureKubeconfigs(files, labName, apiserverUrl, made);
  return made;
}
