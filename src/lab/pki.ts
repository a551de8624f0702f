/**
 * The lab PKI: one CA, a server certificate for the receiver and a client certificate for the API
 * server (mutual TLS in static mode). Made with @peculiar/x509 on Node's WebCrypto rather than by
 * shelling out to openssl: no external program, no shell, and the same code on every platform.
 */
import { createPrivateKey, type KeyObject, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { chmod, mkdtemp, rename, rm, rmdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { RuntimeFailure } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from './fsutil.js';
import { DEFAULT_LAB_NAME } from './paths.js';
import { readFileNoFollow } from './safety.js';

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
/** The names the receiver's certificate must cover: the loopbacks, Docker Desktop's name for the host, and `extra`. */
export function requiredServerNames(extra: readonly string[] = []): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', 'host.docker.internal', ...extra].map(normalizeName))];
}

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
    .map((e) => e.replace(/^"(.*)"$/, '$1'))
    .map((e) => (isIP(e) === 6 ? canonicalV6(e) : e));
}

/** The short lowercase form (::1), as names are given: Node prints a SAN's IPv6 expanded (0:0:0:0:0:0:0:1). */
function canonicalV6(ip: string): string {
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
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

export type PkiPart = 'ca' | 'server' | 'client';

export interface PkiIssue {
  part: PkiPart;
  /** The file at fault, absolute. */
  file: string;
  /** What is wrong with it, e.g. "is missing", "is not the key of server.crt". */
  problem: string;
}

/** The lab PKI as found on disk, each part judged on its own. */
export interface PkiInspection {
  /** None of the six files is there: a new lab, whose PKI is made from scratch. */
  absent: boolean;
  /** Each part when usable: both files readable, the key that of the certificate, a leaf signed by the CA. */
  ca: PemPair | null;
  server: PemPair | null;
  client: PemPair | null;
  issues: PkiIssue[];
}

const PARTS: Record<PkiPart, { cert: string; key: string }> = {
  ca: { cert: PKI_FILES.caCert, key: PKI_FILES.caKey },
  server: { cert: PKI_FILES.serverCert, key: PKI_FILES.serverKey },
  client: { cert: PKI_FILES.clientCert, key: PKI_FILES.clientKey },
};

type Read = { text: string } | { missing: true } | { error: string };

async function readPkiFile(path: string): Promise<Read> {
  try {
    return { text: await readFileNoFollow(path) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: true };
    // A link is refused outright (UserError); anything else makes the file unusable, said as such.
    if (code === undefined) throw err;
    return { error: `cannot be read (${code})` };
  }
}

/**
 * Reads and judges the lab PKI without changing it: which files are missing or unreadable, which
 * key does not belong to its certificate, which leaf the CA did not sign. The one judgement
 * ensurePki acts on and status and doctor report.
 */
export async function inspectPki(dir: string): Promise<PkiInspection> {
  const issues: PkiIssue[] = [];
  const reads = {} as Record<PkiPart, { cert: Read; key: Read }>;
  for (const part of Object.keys(PARTS) as PkiPart[]) {
    reads[part] = { cert: await readPkiFile(join(dir, PARTS[part].cert)), key: await readPkiFile(join(dir, PARTS[part].key)) };
  }
  const all = Object.values(reads).flatMap((r) => [r.cert, r.key]);
  if (all.every((r) => 'missing' in r)) return { absent: true, ca: null, server: null, client: null, issues: [] };

  let caCert: NodeX509 | null = null;
  const judge = (part: PkiPart): PemPair | null => {
    const names = PARTS[part];
    const certFile = join(dir, names.cert);
    const keyFile = join(dir, names.key);
    const { cert, key } = reads[part];
    const before = issues.length;
    const say = (file: string, problem: string) => issues.push({ part, file, problem });
    let x: NodeX509 | null = null;
    let k: KeyObject | null = null;
    if ('missing' in cert) say(certFile, 'is missing');
    else if ('error' in cert) say(certFile, cert.error);
    else {
      try {
        x = new NodeX509(cert.text);
      } catch {
        say(certFile, 'is not a PEM certificate');
      }
    }
    if ('missing' in key) say(keyFile, 'is missing');
    else if ('error' in key) say(keyFile, key.error);
    else {
      try {
        k = createPrivateKey(key.text);
      } catch {
        say(keyFile, 'is not a PEM private key');
      }
    }
    if (x && k && !x.checkPrivateKey(k)) say(keyFile, `is not the key of ${names.cert}`);
    if (x && part === 'ca' && !x.ca) say(certFile, 'is not a CA certificate');
    // A leaf is judged against the CA only when the CA is usable (it is judged first).
    if (x && part !== 'ca' && caCert !== null && !x.verify(caCert.publicKey)) say(certFile, `is not signed by the lab CA (${PKI_FILES.caCert})`);
    if (issues.length > before) return null;
    if (part === 'ca') caCert = x;
    return { cert: (cert as { text: string }).text, key: (key as { text: string }).text };
  };
  const ca = judge('ca');
  return { absent: false, ca, server: judge('server'), client: judge('client'), issues };
}

/** One issue as a person reads it: "…/pki/server.key is missing". */
export function describePkiIssue(i: PkiIssue): string {
  return `${i.file} ${i.problem}`;
}

/** What to do when the CA is unusable: it cannot be remade without the cluster being told. */
export function caFix(dir: string, labName: string): string {
  const nameFlag = labName === DEFAULT_LAB_NAME ? '' : ` --name ${labName}`;
  return (
    `put the file back from a backup if you have one: the cluster trusts this CA and no other. To start over with a new CA: ` +
    `\`audit-lab down${nameFlag}\` (events are kept), move ${dir} aside, then \`audit-lab up${nameFlag}\``
  );
}

/**
 * The lab's PKI, all six files, or null when there is none (a new lab). An incomplete or broken
 * PKI is an error naming the files: a reader (render, sink) must never stand in a new CA for the
 * lab's, and `audit-lab serve` or `up` repairs what can be repaired.
 */
export async function loadPki(dir: string, labName = DEFAULT_LAB_NAME): Promise<LabPki | null> {
  const found = await inspectPki(dir);
  if (found.absent) return null;
  if (found.ca && found.server && found.client) return { ca: found.ca, server: found.server, client: found.client };
  const list = found.issues.map(describePkiIssue).join('; ');
  if (!found.ca) throw new RuntimeFailure(`the lab CA cannot be used: ${list}`, caFix(dir, labName));
  const nameFlag = labName === DEFAULT_LAB_NAME ? '' : ` --name ${labName}`;
  throw new RuntimeFailure(`the lab PKI is incomplete: ${list}`, `\`audit-lab up${nameFlag}\` reissues it from the lab CA`);
}

/**
 * A new lab's PKI, all or nothing: written into a fresh directory renamed into place (over an
 * empty one, if any), so a crash never leaves a partial PKI that would then look like a lost CA.
 */
async function saveNewPki(dir: string, pki: LabPki): Promise<void> {
  await ensurePrivateDir(dirname(dir));
  const tmp = await mkdtemp(join(dirname(dir), `.${basename(dir)}.new-`));
  try {
    await chmod(tmp, 0o700);
    await savePki(tmp, pki);
    await rmdir(dir).catch(() => {});
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    // pki/ holds something else (a stray temp file): write in place, the CA last.
    if (code === 'ENOTEMPTY' || code === 'EEXIST') await savePki(dir, pki);
    else throw err;
  }
}

/**
 * Writes the PKI's files, or only the parts named. The CA goes last: a crash half-way leaves
 * leaves without a CA (an error that names it) rather than a CA that nothing matches, and the CA
 * is never rewritten once a lab has one (ensurePki passes only the leaves it reissued).
 */
export async function savePki(dir: string, pki: LabPki, parts: readonly PkiPart[] = ['server', 'client', 'ca']): Promise<void> {
  await ensurePrivateDir(dir);
  for (const part of (['server', 'client', 'ca'] as const).filter((p) => parts.includes(p))) {
    // Key first: a certificate without its key is reported (and reissued) as such.
    await writeFileAtomic(join(dir, PARTS[part].key), pki[part].key, 0o600);
    await writeFileAtomic(join(dir, PARTS[part].cert), pki[part].cert, 0o644);
  }
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
  const issueNames = (kept: readonly string[] = []) => [...new Set([...kept, ...defaultServerNames(serverNames, interfaces)])];
  const found = await inspectPki(dir);
  if (found.absent) {
    const pki = await createPki(labName, issueNames(), now);
    await saveNewPki(dir, pki);
    return { pki, created: true, reissued: [] };
  }
  const { ca } = found;
  if (!ca) {
    throw new RuntimeFailure(`the lab CA cannot be used: ${found.issues.map(describePkiIssue).join('; ')}`, caFix(dir, labName));
  }
  const why = (part: PkiPart) => found.issues.filter((i) => i.part === part).map(describePkiIssue).join('; ');
  const reissued: Reissue[] = [];
  let server = found.server;
  if (!server) {
    server = await issueServerCert(ca, issueNames(), now);
    reissued.push({ part: 'server', reason: why('server') });
  } else if (!serverCertCovers(server.cert, serverNames)) {
    server = await issueServerCert(ca, issueNames(certNames(server.cert)), now);
    reissued.push({ part: 'server', reason: `it does not cover ${serverNames.filter((n) => !serverCertCovers(found.server!.cert, [n])).join(', ')}` });
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
  if (reissued.length > 0) await savePki(dir, pki, reissued.map((r) => r.part));
  return { pki, created: false, reissued };
}
