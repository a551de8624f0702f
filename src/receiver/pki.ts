/**
 * The lab PKI: one CA, a server certificate for the receiver and a client certificate for the API
 * server (mutual TLS in static mode). Made with @peculiar/x509 on Node's WebCrypto rather than by
 * shelling out to openssl: no external program, no shell, and the same code on every platform.
 */
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;
const CA_DAYS = 3650;
const LEAF_DAYS = 825;
/** A leaf this close to expiry is reissued when the lab is next used. */
const RENEW_BEFORE_DAYS = 30;

export interface PemPair {
  cert: string;
  key: string;
}

export interface LabPki {
  ca: PemPair;
  server: PemPair;
  client: PemPair;
}

export const PKI_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const;

/** Names the receiver may be reached at from this machine or from a kind node. */
export function defaultServerNames(extra: readonly string[] = [], interfaces = networkInterfaces()): string[] {
  const names = ['localhost', '127.0.0.1', '::1', 'host.docker.internal'];
  // Every local address: on Linux the kind network's gateway is one of them once the network exists.
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' || (a.family === 'IPv6' && !a.address.startsWith('fe80'))) names.push(a.address);
    }
  }
  names.push(...extra);
  return [...new Set(names.map(normalizeName))];
}

function normalizeName(name: string): string {
  return name.replace(/^\[(.*)\]$/, '$1');
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

export async function createCa(labName: string, now = new Date()): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=audit-lab CA (${labName}), O=audit-lab`,
    keys,
    signingAlgorithm: ALG,
    ...validity(CA_DAYS, now),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}

async function issueLeaf(ca: PemPair, subject: string, usage: 'server' | 'client', names: readonly string[], now: Date): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  if (names.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: normalizeName(n) }))),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: caCert.subject,
    publicKey: keys.publicKey as never,
    signingKey: await importSigningKey(ca.key),
    signingAlgorithm: ALG,
    ...validity(LEAF_DAYS, now),
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await keyPem(keys.privateKey) };
}

export function issueServerCert(ca: PemPair, names: readonly string[], now = new Date()): Promise<PemPair> {
  return issueLeaf(ca, 'CN=audit-lab receiver, O=audit-lab', 'server', names, now);
}

export function issueClientCert(ca: PemPair, now = new Date()): Promise<PemPair> {
  return issueLeaf(ca, 'CN=audit-lab kube-apiserver, O=audit-lab', 'client', [], now);
}

export async function createPki(labName: string, serverNames: readonly string[], now = new Date()): Promise<LabPki> {
  const ca = await createCa(labName, now);
  const [server, client] = await Promise.all([issueServerCert(ca, serverNames, now), issueClientCert(ca, now)]);
  return { ca, server, client };
}

/** The DNS names and IPs a certificate is valid for. */
export function certNames(certPem: string): string[] {
  const san = new NodeX509(certPem).subjectAltName ?? '';
  return san
    .split(', ')
    .filter((e) => e !== '')
    .map((e) => e.replace(/^DNS:|^IP Address:/, ''))
    .map((e) => e.replace(/^"(.*)"$/, '$1'));
}

function expiresSoon(certPem: string, now: Date): boolean {
  return new Date(new NodeX509(certPem).validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY;
}

function sameAddress(a: string, b: string): boolean {
  if (isIP(a) === 6 && isIP(b) === 6) return expandV6(a) === expandV6(b);
  return a.toLowerCase() === b.toLowerCase();
}

function expandV6(ip: string): string {
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const fill = ip.includes('::') ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((p) => p.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
}

export function serverCertCovers(certPem: string, names: readonly string[]): boolean {
  const have = certNames(certPem);
  return names.every((n) => have.some((h) => sameAddress(h, normalizeName(n))));
}

export async function loadPki(dir: string): Promise<LabPki | null> {
  const read = (f: string) => readFile(join(dir, f), 'utf8');
  try {
    const [caCert, caKey, serverCert, serverKey, clientCert, clientKey] = await Promise.all([
      read(PKI_FILES.caCert),
      read(PKI_FILES.caKey),
      read(PKI_FILES.serverCert),
      read(PKI_FILES.serverKey),
      read(PKI_FILES.clientCert),
      read(PKI_FILES.clientKey),
    ]);
    return { ca: { cert: caCert, key: caKey }, server: { cert: serverCert, key: serverKey }, client: { cert: clientCert, key: clientKey } };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function savePki(dir: string, pki: LabPki): Promise<void> {
  await ensurePrivateDir(dir);
  await Promise.all([
    writeFileAtomic(join(dir, PKI_FILES.caCert), pki.ca.cert, 0o644),
    writeFileAtomic(join(dir, PKI_FILES.caKey), pki.ca.key, 0o600),
    writeFileAtomic(join(dir, PKI_FILES.serverCert), pki.server.cert, 0o644),
    writeFileAtomic(join(dir, PKI_FILES.serverKey), pki.server.key, 0o600),
    writeFileAtomic(join(dir, PKI_FILES.clientCert), pki.client.cert, 0o644),
    writeFileAtomic(join(dir, PKI_FILES.clientKey), pki.client.key, 0o600),
  ]);
}

/**
 * The lab's PKI, made when missing. The CA is kept for the life of the lab (the API server and
 * the AuditSinks trust it); leaves are reissued when they do not cover the receiver's names or are
 * about to expire, which changes nothing the API server was given except the client certificate.
 */
export async function ensurePki(
  dir: string,
  labName: string,
  serverNames: readonly string[],
  now = new Date(),
): Promise<{ pki: LabPki; created: boolean; reissued: string[] }> {
  const existing = await loadPki(dir);
  if (!existing) {
    const pki = await createPki(labName, serverNames, now);
    await savePki(dir, pki);
    return { pki, created: true, reissued: [] };
  }
  const reissued: string[] = [];
  let { server, client } = existing;
  if (!serverCertCovers(server.cert, serverNames) || expiresSoon(server.cert, now)) {
    const names = [...new Set([...certNames(server.cert), ...serverNames.map(normalizeName)])];
    server = await issueServerCert(existing.ca, names, now);
    reissued.push('server');
  }
  if (expiresSoon(client.cert, now)) {
    client = await issueClientCert(existing.ca, now);
    reissued.push('client');
  }
  const pki = { ca: existing.ca, server, client };
  if (reissued.length > 0) await savePki(dir, pki);
  return { pki, created: false, reissued };
}
