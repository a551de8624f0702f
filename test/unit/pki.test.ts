import { X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { certNames, createPki, defaultServerNames, ensurePki, loadPki, serverCertCovers } from '../../src/receiver/pki.js';
import { tempDir } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

function get(port: number, opts: { ca: string; cert?: string; key?: string; servername?: string }): Promise<{ status: number; body: string }> {
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
    expect(new Set(certNames(pki.server.cert))).toEqual(new Set(['localhost', 'host.docker.internal', '127.0.0.1', '0:0:0:0:0:0:0:1', '172.18.0.1']));
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
        res.writeHead(sock.authorized ? 200 : 401).end(sock.authorized ? 'hello apiserver' : String(sock.authorizationError));
      },
    );
    const port = await listen(server);
    expect(await get(port, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key })).toEqual({ status: 200, body: 'hello apiserver' });
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
    expect(moved.reissued).toEqual(['server']);
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
    expect(now.reissued.sort()).toEqual(['client', 'server']);
  });

  it('names every local address, the loopbacks and host.docker.internal', () => {
    const names = defaultServerNames(['172.18.0.1'], {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: null }],
      eth0: [{ address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 }],
    });
    expect(names).toEqual(['localhost', '127.0.0.1', '::1', 'host.docker.internal', '172.18.0.1']);
  });
});
