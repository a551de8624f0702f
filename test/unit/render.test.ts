import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { SinkSpec } from '../../src/audit/model.js';
import { renderAuditSinks } from '../../src/render/auditSinks.js';
import { type KindConfigInput, needsCgroupV1Patch, renderKindConfig } from '../../src/render/kindConfig.js';
import { captureFor, covers, renderPolicy } from '../../src/render/policyFile.js';
import { renderWebhookKubeconfig } from '../../src/render/webhookKubeconfig.js';
import { ROOT } from '../harness/cli.js';

const GOLDEN = join(ROOT, 'test', 'fixtures', 'golden');

/** Compares with a golden file; UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) throw new Error(`golden file ${name} is missing`);
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const staticInput: KindConfigInput = {
  mode: 'static',
  api: 'v1alpha4',
  image: null,
  mountDir: '/home/user/.audit-lab/audit-lab/apiserver',
  batchMaxWait: '1s',
  throttle: { qps: 10, burst: 15 },
  hostCgroup: null,
};
const dynamicInput: KindConfigInput = { ...staticInput, mode: 'dynamic', image: 'kindest/node:v1.18.19' };

/** The ClusterConfiguration patch of a kind config, parsed. */
function patchOf(config: Record<string, unknown>): Record<string, any> {
  const patches = config.kubeadmConfigPatches as string[];
  expect(patches).toHaveLength(1);
  return parse(patches[0]!);
}

describe('kind config', () => {
  // kubelet >= 1.35 refuses cgroup v1 hosts unless told failCgroupV1: false; older ones need nothing.
  it.each([
    { hostCgroup: 1, image: null, api: 'v1alpha4', want: true },
    { hostCgroup: 1, image: 'kindest/node:v1.35.0', api: 'v1alpha4', want: true },
    { hostCgroup: 1, image: 'kindlab/node:v1.37.2', api: 'v1alpha4', want: true },
    { hostCgroup: 1, image: 'kindest/node:v1.34.3@sha256:abc', api: 'v1alpha4', want: false },
    { hostCgroup: 1, image: 'kindest/node:v1.18.19', api: 'v1alpha4', want: false },
    { hostCgroup: 2, image: null, api: 'v1alpha4', want: false },
    { hostCgroup: 2, image: 'kindest/node:v1.37.2', api: 'v1alpha4', want: false },
    { hostCgroup: null, image: 'kindest/node:v1.37.2', api: 'v1alpha4', want: false },
    { hostCgroup: 1, image: 'kindest/node:v1.37.2', api: 'v1alpha3', want: false },
  ] as const)('cgroup v$hostCgroup, $image, $api: kubelet patch $want', ({ hostCgroup, image, api, want }) => {
    expect(needsCgroupV1Patch({ hostCgroup, image, api })).toBe(want);
    const config = parse(renderKindConfig({ ...staticInput, hostCgroup, image, api }));
    const patches = (config.kubeadmConfigPatches as string[]).map((p) => parse(p));
    const kubelet = patches.filter((p) => p.kind === 'KubeletConfiguration');
    // Unversioned, as the ClusterConfiguration patch: kind matches on kind alone.
    expect(kubelet).toStrictEqual(want ? [{ kind: 'KubeletConfiguration', failCgroupV1: false }] : []);
    expect(patches.filter((p) => p.kind === 'ClusterConfiguration')).toHaveLength(1);
  });

  it('static, v1alpha4: mounts the directory and passes the audit flags through an unversioned patch', () => {
    const text = renderKindConfig(staticInput);
    golden('config.static.v1alpha4.yaml', text);
    const config = parse(text);
    expect(config).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    expect(config.nodes).toHaveLength(1);
    expect(config.nodes[0]).toEqual({
      role: 'control-plane',
      extraMounts: [{ hostPath: staticInput.mountDir, containerPath: '/etc/kubernetes/audit-lab', readOnly: true }],
    });
    const patch = patchOf(config);
    expect(patch.apiVersion).toBeUndefined();
    expect(patch.kind).toBe('ClusterConfiguration');
    // kubeadm's extraArgs are strings: a bare 10 or true would be rejected.
    expect(patch.apiServer.extraArgs).toStrictEqual({
      'audit-policy-file': '/etc/kubernetes/audit-lab/policy.yaml',
      'audit-webhook-config-file': '/etc/kubernetes/audit-lab/webhook.kubeconfig',
      'audit-webhook-batch-max-wait': '1s',
      'audit-webhook-batch-throttle-qps': '10',
      'audit-webhook-batch-throttle-burst': '15',
    });
    expect(patch.apiServer.extraVolumes).toEqual([
      {
        name: 'audit-lab',
        hostPath: '/etc/kubernetes/audit-lab',
        mountPath: '/etc/kubernetes/audit-lab',
        readOnly: true,
        pathType: 'DirectoryOrCreate',
      },
    ]);
  });

  it('dynamic, v1alpha4: the three DynamicAuditing flags, the image, nothing mounted', () => {
    const text = renderKindConfig(dynamicInput);
    golden('config.dynamic.v1alpha4.yaml', text);
    const config = parse(text);
    expect(config.nodes[0]).toEqual({ role: 'control-plane', image: 'kindest/node:v1.18.19' });
    const patch = patchOf(config);
    expect(patch.apiVersion).toBeUndefined();
    expect(patch.apiServer).toStrictEqual({
      extraArgs: {
        'audit-dynamic-configuration': 'true',
        'feature-gates': 'DynamicAuditing=true',
        'runtime-config': 'auditregistration.k8s.io/v1alpha1=true',
      },
    });
  });

  it('v1alpha3: the classic form for kind 0.6-0.8, with a kubeadm v1beta2 patch', () => {
    const text = renderKindConfig({ ...dynamicInput, api: 'v1alpha3' });
    golden('config.dynamic.v1alpha3.yaml', text);
    const config = parse(text);
    expect(config.apiVersion).toBe('kind.sigs.k8s.io/v1alpha3');
    const patch = patchOf(config);
    expect(patch).toMatchObject({
      apiVersion: 'kubeadm.k8s.io/v1beta2',
      kind: 'ClusterConfiguration',
      metadata: { name: 'config' },
    });
    expect(patch.apiServer.extraArgs['feature-gates']).toBe('DynamicAuditing=true');

    const staticV3 = parse(renderKindConfig({ ...staticInput, api: 'v1alpha3' }));
    expect(staticV3.nodes[0].extraMounts[0].hostPath).toBe(staticInput.mountDir);
    expect(patchOf(staticV3).apiVersion).toBe('kubeadm.k8s.io/v1beta2');
  });

  it('quotes a mount path that YAML would otherwise misread', () => {
    const odd = '/tmp/a: b/#c';
    const config = parse(renderKindConfig({ ...staticInput, mountDir: odd }));
    expect(config.nodes[0].extraMounts[0].hostPath).toBe(odd);
  });

  it('carries the batch flags it is given', () => {
    const patch = patchOf(
      parse(renderKindConfig({ ...staticInput, batchMaxWait: '250ms', throttle: { qps: 50, burst: 100 } })),
    );
    expect(patch.apiServer.extraArgs['audit-webhook-batch-max-wait']).toBe('250ms');
    expect(patch.apiServer.extraArgs['audit-webhook-batch-throttle-qps']).toBe('50');
    expect(patch.apiServer.extraArgs['audit-webhook-batch-throttle-burst']).toBe('100');
  });
});

const sink = (over: Partial<SinkSpec>): SinkSpec => ({
  name: 'default',
  level: 'Metadata',
  stages: ['ResponseComplete'],
  throttle: { qps: 10, burst: 15 },
  ...over,
});

describe('AuditSinks', () => {
  it('renders one document per sink with url, caBundle, policy and throttle', () => {
    const text = renderAuditSinks([
      { ...sink({}), endpoint: 'https://172.18.0.1:8845/sinks/default/TOKEN', caPem: 'CA-PEM\n' },
      {
        ...sink({
          name: 'external',
          level: 'RequestResponse',
          stages: ['RequestReceived', 'ResponseComplete'],
          throttle: { qps: 5, burst: 7 },
        }),
        endpoint: 'https://audit.example.com/in',
      },
    ]);
    golden('audit.yaml', text);
    const docs = parseAllDocuments(text).map((d) => d.toJS());
    expect(docs).toHaveLength(2);
    expect(docs[0]).toEqual({
      apiVersion: 'auditregistration.k8s.io/v1alpha1',
      kind: 'AuditSink',
      metadata: { name: 'default' },
      spec: {
        policy: { level: 'Metadata', stages: ['ResponseComplete'] },
        webhook: {
          throttle: { qps: 10, burst: 15 },
          clientConfig: {
            url: 'https://172.18.0.1:8845/sinks/default/TOKEN',
            caBundle: Buffer.from('CA-PEM\n').toString('base64'),
          },
        },
      },
    });
    expect(docs[1].spec.webhook.clientConfig).toEqual({ url: 'https://audit.example.com/in' });
    expect(docs[1].spec.webhook.throttle).toEqual({ qps: 5, burst: 7 });
  });
});

describe('capture policy', () => {
  it('captures the highest level and the union of stages of every sink', () => {
    const c = captureFor(
      [
        sink({}),
        sink({ name: 'b', level: 'RequestResponse', stages: ['RequestReceived', 'ResponseComplete'] }),
        sink({ name: 'c', level: 'None', stages: [] }),
      ],
      'sinks',
    );
    expect(c).toEqual({ level: 'RequestResponse', stages: ['RequestReceived', 'ResponseComplete'] });
    const text = renderPolicy(c);
    golden('policy.yaml', text);
    expect(parse(text)).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['ResponseStarted', 'Panic'],
      rules: [{ level: 'RequestResponse' }],
    });
  });

  it('keeps the default sink covered with no sinks, and captures everything with --capture full', () => {
    expect(captureFor([], 'sinks')).toEqual({ level: 'Metadata', stages: ['ResponseComplete'] });
    const full = captureFor([sink({})], 'full');
    expect(parse(renderPolicy(full))).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      rules: [{ level: 'RequestResponse' }],
    });
  });

  it('decides coverage by level and stages', () => {
    const c = captureFor([sink({ level: 'Request' })], 'sinks');
    expect(covers(c, sink({ level: 'Metadata' }))).toBe(true);
    expect(covers(c, sink({ level: 'RequestResponse' }))).toBe(false);
    expect(covers(c, sink({ stages: ['Panic'] }))).toBe(false);
    expect(covers(c, sink({ level: 'None', stages: [] }))).toBe(true);
  });
});

describe('webhook kubeconfig', () => {
  it('points at the receiver with the CA and the client pair, base64-encoded', () => {
    const text = renderWebhookKubeconfig({
      server: 'https://172.18.0.1:8845/events',
      caPem: 'CA',
      clientCertPem: 'CERT',
      clientKeyPem: 'KEY',
    });
    golden('webhook.kubeconfig', text);
    const kc = parse(text);
    expect(kc['current-context']).toBe('audit-lab');
    expect(kc.clusters[0].cluster).toEqual({
      server: 'https://172.18.0.1:8845/events',
      'certificate-authority-data': 'Q0E=',
    });
    expect(kc.users[0].user).toEqual({ 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' });
    expect(kc.contexts[0].context).toEqual({ cluster: 'audit-lab', user: 'kube-apiserver' });
  });
});
