import { X509Certificate } from 'node:crypto';
import { copyFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ControlPlaneFiles, controlPlaneFiles, ensureControlPlanePki } from '../../src/controlplane/pki.js';
import { certNames } from '../../src/lab/pki.js';
import { ensurePki } from '../../src/lab/pkiIssuer.js';
import { testDir } from '../harness/lab.js';

const URL_A = 'https://127.0.0.1:41001';
const URL_B = 'https://127.0.0.1:41002';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

async function made(): Promise<{ files: ControlPlaneFiles; first: string[] }> {
  const files = controlPlaneFiles(await testDir('audit-lab-cp-'));
  return { files, first: await ensureControlPlanePki(files, 'lab-a', URL_A) };
}

const cert = async (path: string) => new X509Certificate(await readFile(path));
const mode = async (path: string) => (await stat(path)).mode & 0o777;
/** node:crypto's subject ("CN=a\nO=b") as a sorted list. */
const subject = (x: X509Certificate) => x.subject.split('\n').sort();

/** Every file under pki/ and the kubeconfigs, with its content: what a call changed. */
async function snapshot(files: ControlPlaneFiles): Promise<Map<string, string>> {
  const paths = [
    ...(await readdir(files.pkiDir)).map((n) => join(files.pkiDir, n)),
    ...Object.values(files.kubeconfig),
  ];
  return new Map(await Promise.all(paths.map(async (p) => [p, await readFile(p, 'utf8')] as const)));
}

function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
}

describe('control plane PKI', () => {
  it('lays its files out under <labDir>/controlplane', () => {
    const f = controlPlaneFiles('/labs/x');
    expect(f.dir).toBe('/labs/x/controlplane');
    expect(f.pkiDir).toBe('/labs/x/controlplane/pki');
    expect(f.ca).toBe('/labs/x/controlplane/pki/ca.crt');
    expect(f.etcdData).toBe('/labs/x/controlplane/etcd');
    expect(f.logs['kube-apiserver']).toBe('/labs/x/controlplane/kube-apiserver.log');
    expect(f.pids.etcd).toBe('/labs/x/controlplane/etcd.pid');
  });

  it('makes every file, keys and kubeconfigs 0600 in 0700 directories, and says what it made', async () => {
    const { files, first } = await made();
    expect(await mode(files.dir)).toBe(0o700);
    expect(await mode(files.pkiDir)).toBe(0o700);
    const keys = [
      files.caKey,
      files.etcdServer.key,
      files.etcdClient.key,
      files.apiserver.key,
      files.controllerManagerServing.key,
      files.schedulerServing.key,
      files.controllerManagerClient.key,
      files.schedulerClient.key,
      files.admin.key,
      files.serviceAccount.key,
      ...Object.values(files.kubeconfig),
    ];
    for (const k of keys) expect([k, await mode(k)]).toEqual([k, 0o600]);
    const certs = (await readdir(files.pkiDir)).filter((n) => n.endsWith('.crt') || n.endsWith('.pub'));
    expect(certs).toHaveLength(10);
    for (const c of certs) expect([c, await mode(join(files.pkiDir, c))]).toEqual([c, 0o644]);
    // One line per file made (a pair as one): the CA, eight leaves, the two service-account keys, three kubeconfigs.
    expect(first).toHaveLength(14);
    expect(first.join('\n')).toContain(files.kubeconfig.admin);
    expect(first.join('\n')).toContain(files.ca);
  });

  it('issues each certificate with the names and subject its user needs, all from its own CA', async () => {
    const { files } = await made();
    const ca = await cert(files.ca);
    expect(ca.ca).toBe(true);
    const loopback = ['127.0.0.1', 'localhost'];
    const want: [string, string[], string[], string[]][] = [
      [files.etcdServer.cert, ['CN=etcd', 'O=audit-lab'], loopback, [SERVER_AUTH, CLIENT_AUTH]],
      [files.etcdClient.cert, ['CN=kube-apiserver-etcd-client', 'O=audit-lab'], [], [CLIENT_AUTH]],
      [
        files.apiserver.cert,
        ['CN=kube-apiserver', 'O=audit-lab'],
        [
          ...loopback,
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
          '10.96.0.1',
        ],
        [SERVER_AUTH],
      ],
      [files.controllerManagerServing.cert, ['CN=kube-controller-manager', 'O=audit-lab'], loopback, [SERVER_AUTH]],
      [files.schedulerServing.cert, ['CN=kube-scheduler', 'O=audit-lab'], loopback, [SERVER_AUTH]],
      [files.controllerManagerClient.cert, ['CN=system:kube-controller-manager'], [], [CLIENT_AUTH]],
      [files.schedulerClient.cert, ['CN=system:kube-scheduler'], [], [CLIENT_AUTH]],
      [files.admin.cert, ['CN=audit-lab-admin', 'O=system:masters'], [], [CLIENT_AUTH]],
    ];
    for (const [path, subj, names, usages] of want) {
      const x = await cert(path);
      expect([path, subject(x)]).toEqual([path, subj]);
      const have = x.subjectAltName === undefined ? [] : certNames(x.toString());
      expect([path, have.sort()]).toEqual([path, [...names].sort()]);
      expect([path, x.keyUsage?.sort()]).toEqual([path, [...usages].sort()]);
      expect([path, x.ca, x.checkIssued(ca), x.verify(ca.publicKey)]).toEqual([path, false, true, true]);
    }
  });

  it('uses a CA that is not the lab CA, even beside it: none of its certificates chains to the receiver CA', async () => {
    const labDir = await testDir('audit-lab-cp-lab-');
    const lab = await ensurePki(join(labDir, 'pki'), 'lab-a', ['127.0.0.1']);
    const files = controlPlaneFiles(labDir);
    await ensureControlPlanePki(files, 'lab-a', URL_A);
    const labCa = new X509Certificate(lab.pki.ca.cert);
    const ours = await cert(files.ca);
    expect(ours.fingerprint256).not.toBe(labCa.fingerprint256);
    expect(ours.subject).not.toBe(labCa.subject);
    for (const p of [files.admin.cert, files.apiserver.cert, files.controllerManagerClient.cert]) {
      expect((await cert(p)).verify(labCa.publicKey)).toBe(false);
    }
  });

  it('gives the service account a key pair whose public half kube-apiserver verifies with', async () => {
    const { files } = await made();
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const key = createPrivateKey(await readFile(files.serviceAccount.key));
    const pub = createPublicKey(await readFile(files.serviceAccount.pub));
    expect(key.asymmetricKeyType).toBe('ec');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(
      pub.export({ type: 'spki', format: 'pem' }),
    );
  });

  it('makes nothing on a second call', async () => {
    const { files } = await made();
    const before = await snapshot(files);
    expect(await ensureControlPlanePki(files, 'lab-a', URL_A)).toEqual([]);
    expect(changed(before, await snapshot(files))).toEqual([]);
  });

  it('remakes a missing key with its certificate, and only that pair', async () => {
    const { files } = await made();
    const before = await snapshot(files);
    await rm(files.admin.key);
    const again = await ensureControlPlanePki(files, 'lab-a', URL_A);
    expect(again).toHaveLength(1);
    expect(again[0]).toContain(files.admin.cert);
    expect(again[0]).toContain('was missing');
    expect(changed(before, await snapshot(files))).toEqual([files.admin.cert, files.admin.key].sort());
    const { createPrivateKey } = await import('node:crypto');
    expect((await cert(files.admin.cert)).checkPrivateKey(createPrivateKey(await readFile(files.admin.key)))).toBe(
      true,
    );
  });

  it('reissues a leaf another CA signed, and every leaf when the CA itself is remade', async () => {
    const { files } = await made();
    const other = controlPlaneFiles(await testDir('audit-lab-cp-other-'));
    await ensureControlPlanePki(other, 'lab-b', URL_A);
    await copyFile(other.apiserver.cert, files.apiserver.cert);
    await copyFile(other.apiserver.key, files.apiserver.key);
    const one = await ensureControlPlanePki(files, 'lab-a', URL_A);
    expect(one).toHaveLength(1);
    expect(one[0]).toContain('not signed by the control plane CA');
    expect((await cert(files.apiserver.cert)).verify((await cert(files.ca)).publicKey)).toBe(true);

    const before = await snapshot(files);
    await rm(files.caKey);
    const all = await ensureControlPlanePki(files, 'lab-a', URL_A);
    // The CA and its eight leaves; the service-account key and the kubeconfigs do not depend on it.
    expect(all).toHaveLength(9);
    const ca = await cert(files.ca);
    expect(ca.fingerprint256).not.toBe(new X509Certificate(before.get(files.ca)!).fingerprint256);
    expect((await cert(files.schedulerClient.cert)).verify(ca.publicKey)).toBe(true);
  });

  it('writes the service-account public key again from the private one', async () => {
    const { files } = await made();
    const key = await readFile(files.serviceAccount.key, 'utf8');
    const pub = await readFile(files.serviceAccount.pub, 'utf8');
    await writeFile(files.serviceAccount.pub, 'not a key\n');
    const again = await ensureControlPlanePki(files, 'lab-a', URL_A);
    expect(again).toHaveLength(1);
    expect(again[0]).toContain(files.serviceAccount.pub);
    expect(await readFile(files.serviceAccount.pub, 'utf8')).toBe(pub);
    expect(await readFile(files.serviceAccount.key, 'utf8')).toBe(key);
  });

  it('writes kubeconfigs naming the URL given, the CA and each identity, and rewrites them for another URL', async () => {
    const { files } = await made();
    const users: [string, { cert: string; key: string }][] = [
      [files.kubeconfig.admin, files.admin],
      [files.kubeconfig.controllerManager, files.controllerManagerClient],
      [files.kubeconfig.scheduler, files.schedulerClient],
    ];
    const server = async (p: string) => parse(await readFile(p, 'utf8')).clusters[0].cluster.server;
    for (const [path, client] of users) {
      const doc = parse(await readFile(path, 'utf8'));
      expect(doc.clusters[0].cluster).toEqual({ server: URL_A, 'certificate-authority': files.ca });
      expect(doc.users[0].user).toEqual({ 'client-certificate': client.cert, 'client-key': client.key });
      expect(doc['current-context']).toBe(doc.contexts[0].name);
    }
    const before = await snapshot(files);
    const again = await ensureControlPlanePki(files, 'lab-a', URL_B);
    expect(again).toHaveLength(3);
    expect(changed(before, await snapshot(files))).toEqual(Object.values(files.kubeconfig).sort());
    for (const [path] of users) expect(await server(path)).toBe(URL_B);
    for (const [path] of users) expect(await mode(path)).toBe(0o600);
  });
});
