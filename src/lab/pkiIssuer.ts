/**
 * Making the lab PKI: the CA and the leaves it issues, with @peculiar/x509 on Node's WebCrypto
 * rather than by shelling out to openssl: no external program, no shell, and the same code on
 * every platform. Loaded only by what makes or repairs certificates (`up`, `serve`, `render`).
 */
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { RuntimeFailure } from '../errors.js';
import {
  caFix,
  certNames,
  describePkiIssue,
  inspectPki,
  type LabPki,
  normalizeName,
  type PemPair,
  type PkiPart,
  requiredServerNames,
  saveNewPki,
  savePki,
  serverCertCovers,
} from './pki.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;
/** A leaf this close to expiry is reissued when the lab is next used. */
const RENEW_BEFORE_DAYS = 30;

/**
 * Those, and every local address, for a certificate being issued: a receiver listening on
 * 0.0.0.0 is then reachable by any of them. Only the required names decide a reissue: interfaces
 * come and go (the kind bridge gains an IPv6 address once a node attaches), and reissuing for
 * each would restart the receiver on every `up`.
 */
export function defaultServerNames(extra: readonly string[] = [], interfaces = networkInterfaces()): string[] {
  const names = requiredServerNames();
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' || (a.family === 'IPv6' && !a.address.startsWith('fe80'))) names.push(a.address);
    }
  }
  names.push(...extra);
  return [...new Set(names.map(normalizeName))];
}

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', fromPem(pem), ALG, false, ['sign'])) as CryptoKey;
}

function validity(days: number, now: Date): { notBefore: Date; notAfter: Date } {
  // Backdate a little: the node's clock may lag the host's.
  return { notBefore: new Date(now.getTime() - 60 * 60 * 1000), notAfter: new Date(now.getTime() + days * DAY) };
}

export function createCa(labName: string, now = new Date()): Promise<PemPair> {
  return issueCa(`CN=audit-lab CA (${labName}), O=audit-lab`, now);
}

/** A self-signed CA of the given subject ("CN=..., O=..."), for 10 years. */
export async function issueCa(subject: string, now = new Date()): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys,
    signingAlgorithm: ALG,
    ...validity(CA_DAYS, now),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: `${cert.toString('pem')}\n`, key: await keyPem(keys.privateKey) };
}

/** What a leaf certificate is for: TLS server, TLS client, or both (etcd's serving certificate). */
export type LeafUsage = 'server' | 'client' | 'both';

export interface LeafSpec {
  /** "CN=..., O=...": a client certificate's CN and O are the user and groups Kubernetes sees. */
  subject: string;
  usage: LeafUsage;
  /** DNS names and IP addresses (subjectAltName); none for most client certificates. */
  names?: readonly string[];
}

const USAGES: Record<LeafUsage, string[]> = {
  server: [x509.ExtendedKeyUsage.serverAuth],
  client: [x509.ExtendedKeyUsage.clientAuth],
  both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
};

/** A leaf certificate and its new key, signed by `ca`, valid for 825 days. */
export async function issueLeaf(ca: PemPair, spec: LeafSpec, now = new Date()): Promise<PemPair> {
  const names = spec.names ?? [];
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension(USAGES[spec.usage]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  if (names.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: normalizeName(n) })),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject: spec.subject,
    issuer: caCert.subject,
    publicKey: keys.publicKey as never,
    signingKey: await importSigningKey(ca.key),
    signingAlgorithm: ALG,
    ...validity(LEAF_DAYS, now),
    extensions,
  });
  return { cert: `${cert.toString('pem')}\n`, key: await keyPem(keys.privateKey) };
}

export function issueServerCert(ca: PemPair, names: readonly string[], now = new Date()): Promise<PemPair> {
  return issueLeaf(ca, { subject: 'CN=audit-lab receiver, O=audit-lab', usage: 'server', names }, now);
}

export function issueClientCert(ca: PemPair, now = new Date()): Promise<PemPair> {
  return issueLeaf(ca, { subject: 'CN=audit-lab kube-apiserver, O=audit-lab', usage: 'client' }, now);
}

export async function createPki(labName: string, serverNames: readonly string[], now = new Date()): Promise<LabPki> {
  const ca = await createCa(labName, now);
  const [server, client] = await Promise.all([issueServerCert(ca, serverNames, now), issueClientCert(ca, now)]);
  return { ca, server, client };
}

function expiresSoon(certPem: string, now: Date): boolean {
  return new Date(new NodeX509(certPem).validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY;
}

export interface Reissue {
  part: 'server' | 'client';
  /** Why, e.g. "…/pki/server.key is missing" or "it expires within 30 days". */
  reason: string;
}

/**
 * The lab's PKI, made only when there is none at all (a new lab). The CA is kept for the life of
 * the lab (the API server and the AuditSinks trust it): when it is missing or broken this throws,
 * naming the file and the way out, and never makes another behind the user's back. A leaf that is
 * missing, unreadable, not its key's, not signed by the CA, about to expire or (the server's) not
 * covering the receiver's names is reissued from the CA, and returned so the caller says so.
 */
export async function ensurePki(
  dir: string,
  labName: string,
  serverNames: readonly string[],
  now = new Date(),
  interfaces = networkInterfaces(),
): Promise<{ pki: LabPki; created: boolean; reissued: Reissue[] }> {
  // What a new server certificate names: the required names and this machine's addresses now.
  const issueNames = (kept: readonly string[] = []) => [
    ...new Set([...kept, ...defaultServerNames(serverNames, interfaces)]),
  ];
  const found = await inspectPki(dir);
  if (found.absent) {
    const pki = await createPki(labName, issueNames(), now);
    await saveNewPki(dir, pki);
    return { pki, created: true, reissued: [] };
  }
  const { ca } = found;
  if (!ca) {
    throw new RuntimeFailure(
      `the lab CA cannot be used: ${found.issues.map(describePkiIssue).join('; ')}`,
      caFix(dir, labName),
    );
  }
  const why = (part: PkiPart) =>
    found.issues
      .filter((i) => i.part === part)
      .map(describePkiIssue)
      .join('; ');
  const reissued: Reissue[] = [];
  let server = found.server;
  if (!server) {
    server = await issueServerCert(ca, issueNames(), now);
    reissued.push({ part: 'server', reason: why('server') });
  } else if (!serverCertCovers(server.cert, serverNames)) {
    server = await issueServerCert(ca, issueNames(certNames(server.cert)), now);
    reissued.push({
      part: 'server',
      reason: `it does not cover ${serverNames.filter((n) => !serverCertCovers(found.server!.cert, [n])).join(', ')}`,
    });
  } else if (expiresSoon(server.cert, now)) {
    server = await issueServerCert(ca, certNames(server.cert), now);
    reissued.push({ part: 'server', reason: `it expires within ${RENEW_BEFORE_DAYS} days` });
  }
  let client = found.client;
  if (!client) {
    client = await issueClientCert(ca, now);
    reissued.push({ part: 'client', reason: why('client') });
  } else if (expiresSoon(client.cert, now)) {
    client = await issueClientCert(ca, now);
    reissued.push({ part: 'client', reason: `it expires within ${RENEW_BEFORE_DAYS} days` });
  }
  const pki = { ca, server, client };
  if (reissued.length > 0)
    await savePki(
      dir,
      pki,
      reissued.map((r) => r.part),
    );
  return { pki, created: false, reissued };
}
