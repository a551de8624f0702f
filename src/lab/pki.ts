/**
 * The lab PKI on disk: one CA, a server certificate for the receiver and a client certificate for
 * the API server (mutual TLS in static mode). Its file names, reading and judging what is there,
 * and writing it. Only node:crypto: `status`, `doctor` and the daemon read certificates without
 * loading the library that makes them (src/lab/pkiIssuer.ts).
 */
import { createPrivateKey, type KeyObject, X509Certificate as NodeX509 } from 'node:crypto';
import { chmod, mkdtemp, rename, rm, rmdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from './fsutil.js';
import { DEFAULT_LAB_NAME, nameFlag } from './paths.js';
import { readFileNoFollow } from './safety.js';

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

/** The names the receiver's certificate must cover: the loopbacks, Docker Desktop's name for the host, and `extra`. */
export function requiredServerNames(extra: readonly string[] = []): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', 'host.docker.internal', ...extra].map(normalizeName))];
}

/** A host as a certificate names it: an IPv6 address without its brackets. */
export function normalizeName(name: string): string {
  return name.replace(/^\[(.*)\]$/, '$1');
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
    reads[part] = {
      cert: await readPkiFile(join(dir, PARTS[part].cert)),
      key: await readPkiFile(join(dir, PARTS[part].key)),
    };
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
    if (x && part !== 'ca' && caCert !== null && !x.verify(caCert.publicKey))
      say(certFile, `is not signed by the lab CA (${PKI_FILES.caCert})`);
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
  const labFlag = nameFlag(labName);
  return (
    `put the file back from a backup if you have one: the cluster trusts this CA and no other. To start over with a new CA: ` +
    `\`audit-lab down${labFlag}\` (events are kept), move ${dir} aside, then \`audit-lab up${labFlag}\``
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
  const labFlag = nameFlag(labName);
  throw new RuntimeFailure(
    `the lab PKI is incomplete: ${list}`,
    `\`audit-lab up${labFlag}\` reissues it from the lab CA`,
  );
}

/**
 * A new lab's PKI, all or nothing: written into a fresh directory renamed into place (over an
 * empty one, if any), so a crash never leaves a partial PKI that would then look like a lost CA.
 */
export async function saveNewPki(dir: string, pki: LabPki): Promise<void> {
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
export async function savePki(
  dir: string,
  pki: LabPki,
  parts: readonly PkiPart[] = ['server', 'client', 'ca'],
): Promise<void> {
  await ensurePrivateDir(dir);
  for (const part of (['server', 'client', 'ca'] as const).filter((p) => parts.includes(p))) {
    // Key first: a certificate without its key is reported (and reissued) as such.
    await writeFileAtomic(join(dir, PARTS[part].key), pki[part].key, 0o600);
    await writeFileAtomic(join(dir, PARTS[part].cert), pki[part].cert, 0o644);
  }
}
