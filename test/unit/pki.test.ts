import { X509Certificate } from 'node:crypto';
import { readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeFailure, UserError } from '../../src/errors.js';
import { certNames, inspectPki, loadPki, PKI_FILES, requiredServerNames, serverCertCovers } from '../../src/lab/pki.js';
import { createPki, defaultServerNames, ensurePki } from '../../src/lab/pkiIssuer.js';
import { tempDir } from '../harness/lab.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

function get(
  port: number,
  opts: { ca: string; cert?: string; key?: string; servername?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', ...opts }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('lab PKI', () => {
  it('issues a CA, a server and a client certificate that chain to it', async () => {
    const pki = await createPki('audit-lab', ['localhost', '127.0.0.1', '::1', 'host.docker.internal', '172.18.0.1']);
    const ca = new X509Certificate(pki.ca.cert);
    const server = new X509Certificate(pki.server.cert);
    const client = new X509Certificate(pki.client.cert);
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(client.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    expect(new Set(certNames(pki.server.cert))).toEqual(
      new Set(['localhost', 'host.docker.internal', '127.0.0.1', '::1', '172.18.0.1']),
    );
    expect(serverCertCovers(pki.server.cert, ['172.18.0.1', '::1', 'HOST.docker.internal'])).toBe(true);
    expect(serverCertCovers(pki.server.cert, ['172.18.0.2'])).toBe(false);
    expect(pki.ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('does mutual TLS: the server presents its cert and accepts only clients the CA signed', async () => {
    const pki = await createPki('audit-lab', ['127.0.0.1']);
    const other = await createPki('someone-else', ['127.0.0.1']);
    const server = createServer(
      { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const sock = req.socket as import('node:tls').TLSSocket;
        res
          .writeHead(sock.authorized ? 200 : 401)
          .end(sock.authorized ? 'hello apiserver' : String(sock.authorizationError));
      },
    );
    const port = await listen(server);
    expect(await get(port, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key })).toEqual({
      status: 200,
      body: 'hello apiserver',
    });
    expect((await get(port, { ca: pki.ca.cert })).status).toBe(401);
    expect((await get(port, { ca: pki.ca.cert, cert: other.client.cert, key: other.client.key })).status).toBe(401);
    // A client that trusts another CA refuses our server.
    await expect(get(port, { ca: other.ca.cert })).rejects.toThrow();
  });

  it('saves keys privately, keeps the CA, and reissues the server cert for a new address', async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const pkiDir = join(dir, 'pki');
    const first = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']);
    expect(first.created).toBe(true);
    expect((await stat(pkiDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(pkiDir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(pkiDir, 'server.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(pkiDir, 'client.key'))).mode & 0o777).toBe(0o600);

    const again = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']);
    expect(again).toMatchObject({ created: false, reissued: [] });
    expect(again.pki).toEqual(first.pki);

    const moved = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1', '127.0.0.9']);
    expect(moved.reissued).toEqual([{ part: 'server', reason: 'it does not cover 127.0.0.9' }]);
    expect(moved.pki.ca).toEqual(first.pki.ca);
    expect(moved.pki.client).toEqual(first.pki.client);
    expect(serverCertCovers(moved.pki.server.cert, ['127.0.0.1', '127.0.0.9'])).toBe(true);
    expect((await loadPki(pkiDir))!.server.cert).toBe(moved.pki.server.cert);
  });

  it('reissues leaves that are about to expire', async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const long = new Date(Date.now() - 820 * 24 * 3600 * 1000);
    await ensurePki(dir, 'audit-lab', ['127.0.0.1'], long);
    const now = await ensurePki(dir, 'audit-lab', ['127.0.0.1']);
    expect(now.reissued.map((r) => r.part).sort()).toEqual(['client', 'server']);
  });

  it('an interface address that appears later (the kind bridge once a node attaches) does not reissue; a new node-facing host does', async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const iface = (address: string, family: 'IPv4' | 'IPv6') =>
      ({
        address,
        family,
        internal: false,
        netmask: '',
        mac: '',
        cidr: null,
        ...(family === 'IPv6' ? { scopeid: 0 } : {}),
      }) as never;
    const before = { br: [iface('172.18.0.1', 'IPv4')] };
    const after = { br: [iface('172.18.0.1', 'IPv4'), iface('fc00:f853:ccd:e793::1', 'IPv6')] };
    const first = await ensurePki(dir, 'audit-lab', requiredServerNames(['172.18.0.1']), new Date(), before);
    expect(certNames(first.pki.server.cert)).toContain('172.18.0.1');
    const again = await ensurePki(dir, 'audit-lab', requiredServerNames(['172.18.0.1']), new Date(), after);
    expect(again.reissued).toEqual([]);
    expect(again.pki.server.cert).toBe(first.pki.server.cert);
    const moved = await ensurePki(dir, 'audit-lab', requiredServerNames(['172.19.0.1']), new Date(), after);
    expect(moved.reissued).toEqual([{ part: 'server', reason: 'it does not cover 172.19.0.1' }]);
    // Issued anew, it names today's addresses too, and keeps what the old one covered.
    expect(certNames(moved.pki.server.cert)).toEqual(
      expect.arrayContaining(['172.19.0.1', '172.18.0.1', 'fc00:f853:ccd:e793::1']),
    );
  });

  it('names every local address, the loopbacks and host.docker.internal', () => {
    const names = defaultServerNames(['172.18.0.1'], {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: null }],
      eth0: [{ address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 }],
    });
    expect(names).toEqual(['localhost', '127.0.0.1', '::1', 'host.docker.internal', '172.18.0.1']);
  });

  describe('a lab that lost part of its PKI', () => {
    async function labPki(): Promise<{ pkiDir: string; before: Record<string, string> }> {
      const { dir, cleanup } = await tempDir();
      cleanups.push(cleanup);
      const pkiDir = join(dir, 'pki');
      await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']);
      const before: Record<string, string> = {};
      for (const f of Object.values(PKI_FILES)) before[f] = await readFile(join(pkiDir, f), 'utf8');
      return { pkiDir, before };
    }

    for (const file of [PKI_FILES.caCert, PKI_FILES.caKey]) {
      it(`${file} missing: an error naming it and the way out, and no new CA`, async () => {
        const { pkiDir, before } = await labPki();
        await rm(join(pkiDir, file));
        const err = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RuntimeFailure);
        expect((err as RuntimeFailure).message).toBe(`the lab CA cannot be used: ${join(pkiDir, file)} is missing`);
        expect((err as RuntimeFailure).hint).toContain('backup');
        expect((err as RuntimeFailure).hint).toContain(`move ${pkiDir} aside`);
        // Nothing written: the other five files are as they were, the lost one still lost.
        expect((await readdir(pkiDir)).sort()).toEqual(
          Object.values(PKI_FILES)
            .filter((f) => f !== file)
            .sort(),
        );
        for (const f of Object.values(PKI_FILES).filter((f) => f !== file))
          expect(await readFile(join(pkiDir, f), 'utf8')).toBe(before[f]);
        await expect(loadPki(pkiDir)).rejects.toThrow('the lab CA cannot be used');
      });
    }

    const leaves = [
      [PKI_FILES.serverCert, 'server'],
      [PKI_FILES.serverKey, 'server'],
      [PKI_FILES.clientCert, 'client'],
      [PKI_FILES.clientKey, 'client'],
    ] as const;
    for (const [file, part] of leaves) {
      it(`${file} missing: the ${part} certificate is reissued from the same CA, and said`, async () => {
        const { pkiDir, before } = await labPki();
        await rm(join(pkiDir, file));
        expect((await inspectPki(pkiDir)).issues).toEqual([{ part, file: join(pkiDir, file), problem: 'is missing' }]);
        await expect(loadPki(pkiDir)).rejects.toThrow(`the lab PKI is incomplete: ${join(pkiDir, file)} is missing`);
        const r = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']);
        expect(r.created).toBe(false);
        expect(r.reissued).toEqual([{ part, reason: `${join(pkiDir, file)} is missing` }]);
        expect(await readFile(join(pkiDir, PKI_FILES.caCert), 'utf8')).toBe(before[PKI_FILES.caCert]);
        expect(await readFile(join(pkiDir, PKI_FILES.caKey), 'utf8')).toBe(before[PKI_FILES.caKey]);
        const ca = new X509Certificate(before[PKI_FILES.caCert]!);
        expect(new X509Certificate(r.pki[part].cert).verify(ca.publicKey)).toBe(true);
        expect((await inspectPki(pkiDir)).issues).toEqual([]);
        expect(await loadPki(pkiDir)).toEqual(r.pki);
      });
    }

    it("a key that is not its certificate's, and a leaf another CA signed, are reissued", async () => {
      const { pkiDir, before } = await labPki();
      const other = await createPki('someone-else', ['127.0.0.1']);
      await writeFile(join(pkiDir, PKI_FILES.serverKey), before[PKI_FILES.clientKey]!);
      await writeFile(join(pkiDir, PKI_FILES.clientCert), other.client.cert);
      await writeFile(join(pkiDir, PKI_FILES.clientKey), other.client.key);
      const r = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']);
      expect(r.reissued).toEqual([
        { part: 'server', reason: `${join(pkiDir, PKI_FILES.serverKey)} is not the key of server.crt` },
        { part: 'client', reason: `${join(pkiDir, PKI_FILES.clientCert)} is not signed by the lab CA (ca.crt)` },
      ]);
      expect(r.pki.ca.cert).toBe(before[PKI_FILES.caCert]);
      expect((await inspectPki(pkiDir)).issues).toEqual([]);
    });

    it("a CA key that is not the CA certificate's is an error, not a new CA", async () => {
      const { pkiDir } = await labPki();
      const other = await createPki('someone-else', ['127.0.0.1']);
      await writeFile(join(pkiDir, PKI_FILES.caKey), other.ca.key);
      await expect(ensurePki(pkiDir, 'audit-lab', ['127.0.0.1'])).rejects.toThrow(
        `${join(pkiDir, PKI_FILES.caKey)} is not the key of ca.crt`,
      );
    });

    it('only a lab with no PKI at all gets a new CA, made whole or not at all', async () => {
      const { dir, cleanup } = await tempDir();
      cleanups.push(cleanup);
      const pkiDir = join(dir, 'pki');
      expect((await inspectPki(pkiDir)).absent).toBe(true);
      expect(await loadPki(pkiDir)).toBeNull();
      expect((await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1'])).created).toBe(true);
      expect((await readdir(pkiDir)).sort()).toEqual(Object.values(PKI_FILES).sort());
      expect((await readdir(dir)).sort()).toEqual(['pki']);
    });

    it('a key file that is a symbolic link is refused (exit 2), not followed', async () => {
      const { pkiDir, before } = await labPki();
      const elsewhere = join(pkiDir, '..', 'elsewhere.key');
      await rename(join(pkiDir, PKI_FILES.serverKey), elsewhere);
      await symlink(elsewhere, join(pkiDir, PKI_FILES.serverKey));
      const err = await ensurePki(pkiDir, 'audit-lab', ['127.0.0.1']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(`${join(pkiDir, PKI_FILES.serverKey)} is a symbolic link`);
      expect(await readFile(elsewhere, 'utf8')).toBe(before[PKI_FILES.serverKey]);
    });
  });
});
