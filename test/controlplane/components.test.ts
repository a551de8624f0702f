import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ComponentInput,
  componentArgs,
  kubeMinor,
  readiness,
  START_ORDER,
} from '../../src/controlplane/components.js';
import type { Component } from '../../src/controlplane/binaries.js';
import { controlPlaneFiles, ensureControlPlanePki } from '../../src/controlplane/pki.js';
import { UserError } from '../../src/errors.js';
import { issueCa, issueLeaf } from '../../src/lab/pkiIssuer.js';
import { apiServerArgs } from '../../src/render/kindConfig.js';
import { testDir } from '../harness/lab.js';

const PORTS = { etcd: 42379, etcdPeer: 42380, apiserver: 42443, controllerManager: 42257, scheduler: 42259 };
const AUDIT = {
  policyFile: '/home/u/.audit-lab/audit-lab/apiserver/policy.yaml',
  webhookKubeconfig: '/home/u/.audit-lab/audit-lab/apiserver/webhook.kubeconfig',
  batchMaxWait: '2s',
  throttle: { qps: 7, burst: 9 },
};

function input(version: string, mode: 'static' | 'dynamic', labDir = '/home/u/.audit-lab/audit-lab'): ComponentInput {
  return { version, mode, files: controlPlaneFiles(labDir), ports: PORTS, audit: AUDIT };
}

/** The flags as a map (each flag is given once). */
function argMap(args: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of args) {
    const match = /^--([a-z0-9-]+)=(.*)$/.exec(a);
    expect(match, a).not.toBeNull();
    expect(m.has(match![1]!), `${a} given twice`).toBe(false);
    m.set(match![1]!, match![2]!);
  }
  return m;
}

describe('component flags', () => {
  it('starts etcd, then kube-apiserver, then the controller-manager and the scheduler', () => {
    expect(START_ORDER).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
  });

  it('reads the minor version, and refuses what is not a 1.x version', () => {
    expect(kubeMinor('v1.18.19')).toBe(18);
    expect(kubeMinor('1.37.2')).toBe(37);
    expect(() => kubeMinor('latest')).toThrow(UserError);
    expect(() => kubeMinor('v2.0.0')).toThrow(UserError);
  });

  it('turns off 1.18 insecure ports, and passes no such flag to 1.37, which refuses it', () => {
    const old = input('v1.18.19', 'static');
    const now = input('v1.37.2', 'static');
    expect(argMap(componentArgs('kube-apiserver', old)).get('insecure-port')).toBe('0');
    expect(argMap(componentArgs('kube-controller-manager', old)).get('port')).toBe('0');
    expect(argMap(componentArgs('kube-scheduler', old)).get('port')).toBe('0');
    for (const c of START_ORDER) {
      const flags = [...argMap(componentArgs(c, now)).keys()];
      expect([c, flags.filter((f) => f === 'port' || f === 'insecure-port')]).toEqual([c, []]);
    }
    expect(argMap(componentArgs('etcd', old)).has('port')).toBe(false);
  });

  it('binds and points every component at 127.0.0.1 only', () => {
    for (const version of ['v1.18.19', 'v1.37.2']) {
      for (const c of START_ORDER) {
        for (const [flag, value] of argMap(componentArgs(c, input(version, 'static')))) {
          // A name in the tokens the API server issues, never connected to.
          if (flag === 'service-account-issuer') continue;
          if (flag.endsWith('address')) expect([c, flag, value]).toEqual([c, flag, '127.0.0.1']);
          for (const url of value.match(/[a-z]+:\/\/[^,\s]+/g) ?? []) {
            expect([c, flag, new URL(url).hostname]).toEqual([c, flag, '127.0.0.1']);
          }
        }
      }
    }
    const etcd = argMap(componentArgs('etcd', input('v1.37.2', 'static')));
    expect(etcd.get('listen-client-urls')).toBe(`https://127.0.0.1:${PORTS.etcd}`);
    expect(etcd.get('listen-peer-urls')).toBe(`http://127.0.0.1:${PORTS.etcdPeer}`);
  });

  it('makes etcd demand a client certificate from the control plane CA, which kube-apiserver presents', () => {
    const i = input('v1.37.2', 'static');
    const etcd = argMap(componentArgs('etcd', i));
    expect(etcd.get('client-cert-auth')).toBe('true');
    expect(etcd.get('trusted-ca-file')).toBe(i.files.ca);
    expect(etcd.get('cert-file')).toBe(i.files.etcdServer.cert);
    expect(etcd.get('data-dir')).toBe(i.files.etcdData);
    const api = argMap(componentArgs('kube-apiserver', i));
    expect(api.get('etcd-servers')).toBe(`https://127.0.0.1:${PORTS.etcd}`);
    expect(api.get('etcd-cafile')).toBe(i.files.ca);
    expect(api.get('etcd-certfile')).toBe(i.files.etcdClient.cert);
    expect(api.get('etcd-keyfile')).toBe(i.files.etcdClient.key);
    expect(api.get('client-ca-file')).toBe(i.files.ca);
    expect(api.get('service-account-key-file')).toBe(i.files.serviceAccount.pub);
    expect(api.get('service-account-signing-key-file')).toBe(i.files.serviceAccount.key);
    expect(api.get('service-account-issuer')).toBe('https://kubernetes.default.svc');
    expect(api.get('service-cluster-ip-range')).toBe('10.96.0.0/12');
    expect(api.get('endpoint-reconciler-type')).toBe('none');
    expect(api.get('authorization-mode')).toBe('Node,RBAC');
  });

  it('static mode: the audit flags of kind’s config, with the paths on this machine', () => {
    const i = input('v1.37.2', 'static');
    const api = argMap(componentArgs('kube-apiserver', i));
    expect(api.get('audit-policy-file')).toBe(AUDIT.policyFile);
    expect(api.get('audit-webhook-config-file')).toBe(AUDIT.webhookKubeconfig);
    expect(api.get('audit-webhook-batch-max-wait')).toBe('2s');
    expect(api.get('audit-webhook-batch-throttle-qps')).toBe('7');
    expect(api.get('audit-webhook-batch-throttle-burst')).toBe('9');
    expect(api.has('feature-gates')).toBe(false);
    const same = apiServerArgs({ mode: 'static', batchMaxWait: '2s', throttle: AUDIT.throttle }, AUDIT);
    for (const [k, v] of Object.entries(same)) expect([k, api.get(k)]).toEqual([k, v]);
  });

  it('dynamic mode: the DynamicAuditing feature gate and the AuditSink API, no policy or webhook file', () => {
    const api = argMap(componentArgs('kube-apiserver', input('v1.18.19', 'dynamic')));
    expect(api.get('feature-gates')).toBe('DynamicAuditing=true');
    expect(api.get('audit-dynamic-configuration')).toBe('true');
    expect(api.get('runtime-config')).toBe('auditregistration.k8s.io/v1alpha1=true');
    expect(api.has('audit-policy-file')).toBe(false);
    expect(api.has('audit-webhook-config-file')).toBe(false);
  });

  it('runs the controller-manager and the scheduler as themselves, serving TLS on loopback, without leader election', () => {
    const i = input('v1.37.2', 'static');
    const cm = argMap(componentArgs('kube-controller-manager', i));
    const sched = argMap(componentArgs('kube-scheduler', i));
    for (const [m, kubeconfig, serving, port] of [
      [cm, i.files.kubeconfig.controllerManager, i.files.controllerManagerServing, PORTS.controllerManager],
      [sched, i.files.kubeconfig.scheduler, i.files.schedulerServing, PORTS.scheduler],
    ] as const) {
      expect(m.get('kubeconfig')).toBe(kubeconfig);
      expect(m.get('authentication-kubeconfig')).toBe(kubeconfig);
      expect(m.get('authorization-kubeconfig')).toBe(kubeconfig);
      expect(m.get('leader-elect')).toBe('false');
      expect(m.get('secure-port')).toBe(String(port));
      expect(m.get('tls-cert-file')).toBe(serving.cert);
      expect(m.get('tls-private-key-file')).toBe(serving.key);
    }
    expect(cm.get('use-service-account-credentials')).toBe('true');
    expect(cm.get('service-account-private-key-file')).toBe(i.files.serviceAccount.key);
    expect(cm.get('root-ca-file')).toBe(i.files.ca);
  });
});

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

type Handler = (path: string, peerCn: string | null) => { status: number; body: string } | null;

/** A local HTTPS server with `pem` as its certificate, asking for (not requiring) a client certificate from `ca`. */
async function serve(pem: { cert: string; key: string }, ca: string, handler: Handler): Promise<number> {
  const server = createServer({ ...pem, ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const peer = sock.authorized ? sock.getPeerCertificate().subject?.CN : null;
    const answer = handler(req.url ?? '', typeof peer === 'string' ? peer : null);
    // null: never answer (the probe's own timeout ends the request).
    if (answer !== null) res.writeHead(answer.status).end(answer.body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function pkiInput(): Promise<ComponentInput> {
  const i = input('v1.37.2', 'static', await testDir('audit-lab-probe-'));
  await ensureControlPlanePki(i.files, 'probe', 'https://127.0.0.1:1');
  return i;
}

async function pair(files: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  return { cert: await readFile(files.cert, 'utf8'), key: await readFile(files.key, 'utf8') };
}

/** The probe of `c` against a server on a port of its own. */
async function probeAgainst(i: ComponentInput, c: Component, port: number): Promise<boolean> {
  const key = { etcd: 'etcd', 'kube-apiserver': 'apiserver', 'kube-controller-manager': 'controllerManager' } as const;
  const ports = { ...i.ports, [c === 'kube-scheduler' ? 'scheduler' : key[c]]: port };
  return readiness(c, { ...i, ports })();
}

describe('readiness probes', () => {
  it('etcd: ready when /health says {"health":"true"} to the API server’s etcd client certificate', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    let health = 'true';
    const port = await serve(await pair(i.files.etcdServer), ca, (path, cn) =>
      path === '/health' && cn === 'kube-apiserver-etcd-client'
        ? { status: 200, body: `{"health":"${health}","reason":""}` }
        : { status: 401, body: '' },
    );
    expect(await probeAgainst(i, 'etcd', port)).toBe(true);
    health = 'false';
    expect(await probeAgainst(i, 'etcd', port)).toBe(false);
  });

  it('kube-apiserver: ready on 200 from /readyz for the admin, not on 500', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    let status = 200;
    const port = await serve(await pair(i.files.apiserver), ca, (path, cn) =>
      path === '/readyz' && cn === 'audit-lab-admin' ? { status, body: 'ok' } : { status: 403, body: '' },
    );
    expect(await probeAgainst(i, 'kube-apiserver', port)).toBe(true);
    status = 500;
    expect(await probeAgainst(i, 'kube-apiserver', port)).toBe(false);
  });

  it('controller-manager and scheduler: ready on 200 from /healthz on their secure port, not on 500', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    for (const [c, serving] of [
      ['kube-controller-manager', i.files.controllerManagerServing],
      ['kube-scheduler', i.files.schedulerServing],
    ] as const) {
      let status = 200;
      const port = await serve(await pair(serving), ca, (path) =>
        path === '/healthz' ? { status, body: 'ok' } : { status: 404, body: '' },
      );
      expect([c, await probeAgainst(i, c, port)]).toEqual([c, true]);
      status = 500;
      expect([c, await probeAgainst(i, c, port)]).toEqual([c, false]);
    }
  });

  it('is false when nothing listens', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    const port = await serve(await pair(i.files.apiserver), ca, () => ({ status: 200, body: 'ok' }));
    const server = servers.pop()!;
    await new Promise((r) => server.close(r));
    for (const c of START_ORDER) expect([c, await probeAgainst(i, c, port)]).toEqual([c, false]);
  });

  it('is false against a server whose certificate another CA signed', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    const stranger = await issueCa('CN=someone else');
    const leaf = await issueLeaf(stranger, { subject: 'CN=impostor', usage: 'server', names: ['127.0.0.1'] });
    const port = await serve(leaf, ca, () => ({ status: 200, body: '{"health":"true"}' }));
    for (const c of START_ORDER) expect([c, await probeAgainst(i, c, port)]).toEqual([c, false]);
  });

  it('is false when the server never answers, once its short timeout is up', async () => {
    const i = await pkiInput();
    const ca = await readFile(i.files.ca, 'utf8');
    const port = await serve(await pair(i.files.apiserver), ca, () => null);
    expect(await probeAgainst(i, 'kube-apiserver', port)).toBe(false);
  });

  it('is false before the certificates exist', async () => {
    const i = input('v1.37.2', 'static', await testDir('audit-lab-probe-none-'));
    expect(await readiness('kube-apiserver', i)()).toBe(false);
  });
});
