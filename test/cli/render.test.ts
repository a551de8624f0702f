import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { labPaths } from '../../src/lab/paths.js';
import { DEFAULT_SINK, newLabState, newSinkState, writeState } from '../../src/lab/state.js';
import { ensurePki } from '../../src/lab/pkiIssuer.js';
import { runProcess } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

/** A new lab's receiver port in this test run (8845 for a user: see firstReceiverPort). */
const FIRST_PORT = process.env.AUDIT_LAB_FIRST_PORT;

const home = () => testDir();

let kubectl: string;
beforeAll(() => {
  // The real kubectl must load what we render; this test is worthless without it, so it fails if absent.
  kubectl = execFileSync('sh', ['-c', 'command -v kubectl']).toString().trim();
});

function files(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of stdout.split(/^# ==> /m).filter(Boolean)) {
    const [header, ...rest] = part.split('\n');
    out[header!.replace(/ <==$/, '')] = rest.join('\n');
  }
  return out;
}

describe('audit-lab render (as a process)', () => {
  // kubelet >= 1.35 refuses cgroup v1 unless told failCgroupV1: false; render adds it and says why.
  it.for([
    { host: 'v1', image: 'kindest/node:v1.36.1', patched: true },
    { host: 'v1', image: undefined, patched: true },
    { host: 'v1', image: 'kindest/node:v1.33.1', patched: false },
    { host: 'v2', image: 'kindest/node:v1.36.1', patched: false },
  ])('--host-cgroup $host, image $image: kubelet patch $patched', async ({ host, image, patched }) => {
    const dir = await home();
    const r = await runProcess(
      ['render', '--mode', 'static', '--host-cgroup', host, ...(image ? ['--image', image] : [])],
      { env: { AUDIT_LAB_HOME: dir } },
    );
    expect(r.code).toBe(0);
    const config = parse(files(r.stdout)['config.yaml']!) as { kubeadmConfigPatches: string[] };
    const kubelet = config.kubeadmConfigPatches.map((p) => parse(p)).filter((p) => p.kind === 'KubeletConfiguration');
    expect(kubelet).toStrictEqual(patched ? [{ kind: 'KubeletConfiguration', failCgroupV1: false }] : []);
    expect(r.stderr.includes('this host uses cgroup v1')).toBe(patched);
  });

  it('--host-cgroup takes v1 or v2 only', async () => {
    const r = await runProcess(['render', '--host-cgroup', '3'], { env: { AUDIT_LAB_HOME: await home() } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--host-cgroup "3" is not one of v1, v2');
  });

  it('prints the static files of a new lab and creates nothing', async () => {
    const dir = await home();
    const r = await runProcess(['render'], { env: { AUDIT_LAB_HOME: join(dir, 'labs') } });
    expect(r.code).toBe(0);
    const f = files(r.stdout);
    expect(Object.keys(f)).toEqual(['config.yaml', 'policy.yaml', 'webhook.kubeconfig']);
    expect(parse(f['config.yaml']!).nodes[0].extraMounts[0].hostPath).toBe(join(dir, 'labs', 'audit-lab', 'apiserver'));
    // A new lab captures everything: no sink it makes later needs the API server restarted.
    expect(parse(f['policy.yaml']!)).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      rules: [{ level: 'RequestResponse' }],
    });
    expect(parse(f['webhook.kubeconfig']!).clusters[0].cluster.server).toBe(
      `https://host.docker.internal:${FIRST_PORT}/events`,
    );
    expect(r.stderr).toMatch(/throwaway/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes static files into --out that kubectl loads, keys private, and a CA that signed the client cert', async () => {
    const dir = await home();
    const out = join(dir, 'files');
    const r = await runProcess(
      [
        'render',
        '--mode',
        'static',
        '--out',
        out,
        '--receiver-host',
        '127.0.0.1',
        '--port',
        '9443',
        '--host-cgroup',
        'v2',
      ],
      {
        env: { AUDIT_LAB_HOME: join(dir, 'labs') },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(out, 'config.yaml')}`);
    expect((await readdir(out)).sort()).toEqual(['apiserver', 'config.yaml', 'pki']);
    expect((await readdir(join(out, 'apiserver'))).sort()).toEqual(['policy.yaml', 'webhook.kubeconfig']);
    expect((await stat(join(out, 'apiserver', 'webhook.kubeconfig'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'pki', 'ca.key'))).mode & 0o777).toBe(0o600);
    expect(parse(await readFile(join(out, 'config.yaml'), 'utf8')).nodes[0].extraMounts[0].hostPath).toBe(
      join(out, 'apiserver'),
    );

    const view = JSON.parse(
      execFileSync(kubectl, [
        'config',
        'view',
        '--kubeconfig',
        join(out, 'apiserver', 'webhook.kubeconfig'),
        '--raw',
        '-o',
        'json',
      ]).toString(),
    );
    expect(view['current-context']).toBe('audit-lab');
    const cluster = view.clusters[0].cluster;
    expect(cluster.server).toBe('https://127.0.0.1:9443/events');
    const ca = new X509Certificate(Buffer.from(cluster['certificate-authority-data'], 'base64'));
    const client = new X509Certificate(Buffer.from(view.users[0].user['client-certificate-data'], 'base64'));
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(ca.toString()).toBe(new X509Certificate(await readFile(join(out, 'pki', 'ca.crt'))).toString());
    expect(Buffer.from(view.users[0].user['client-key-data'], 'base64').toString()).toMatch(/BEGIN PRIVATE KEY/);
    // The server certificate in pki/ covers the host the kubeconfig names.
    const server = new X509Certificate(await readFile(join(out, 'pki', 'server.crt')));
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(await readdir(dir)).toEqual(['files']);
  });

  it('without a lab: the directory config.yaml mounts holds only what the API server reads, and the next steps name both flows', async () => {
    const dir = await home();
    const out = join(dir, 'for-cluster');
    const r = await runProcess(
      ['render', '--mode', 'static', '--out', out, '--receiver-host', '192.0.2.20', '--host-cgroup', 'v2'],
      { env: { AUDIT_LAB_HOME: join(dir, 'labs') } },
    );
    expect(r.code).toBe(0);
    const mounted = parse(await readFile(join(out, 'config.yaml'), 'utf8')).nodes[0].extraMounts[0].hostPath as string;
    expect((await readdir(mounted, { recursive: true })).sort()).toEqual(['policy.yaml', 'webhook.kubeconfig']);
    expect(await readFile(join(out, 'pki', 'ca.key'), 'utf8')).toMatch(/PRIVATE KEY/);
    expect(r.stdout).toContain(
      `next, for a new kind cluster: kind create cluster --name audit-lab --config ${join(out, 'config.yaml')}`,
    );
    expect(r.stdout).toContain(
      `  or, for a cluster already running: copy ${join(out, 'apiserver')}/ to /etc/kubernetes/audit-lab/ on its control-plane node`,
    );
    expect(r.stdout).toContain(
      `these files trust the throwaway CA in ${join(out, 'pki')}/, which no \`audit-lab serve\` uses`,
    );
  });

  it('renders dynamic mode for a 1.13-1.18 image: AuditSinks whose caBundle is the lab CA', async () => {
    const dir = await home();
    const out = join(dir, 'files');
    const r = await runProcess(
      ['render', '--image', 'kindest/node:v1.18.19', '--out', out, '--receiver-host', '127.0.0.1'],
      {
        env: { AUDIT_LAB_HOME: join(dir, 'labs') },
      },
    );
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['audit.yaml', 'config.yaml', 'pki']);
    const sinks = parseAllDocuments(await readFile(join(out, 'audit.yaml'), 'utf8')).map((d) => d.toJS());
    expect(sinks).toHaveLength(1);
    expect(sinks[0].spec.policy).toEqual({ level: 'Metadata', stages: ['ResponseComplete'] });
    expect(sinks[0].spec.webhook.clientConfig.url).toMatch(
      new RegExp(`^https://127\\.0\\.0\\.1:${FIRST_PORT}/sinks/default/[A-Za-z0-9_-]{43}$`),
    );
    expect(Buffer.from(sinks[0].spec.webhook.clientConfig.caBundle, 'base64').toString()).toBe(
      await readFile(join(out, 'pki', 'ca.crt'), 'utf8'),
    );
    expect(parse(await readFile(join(out, 'config.yaml'), 'utf8')).nodes[0].image).toBe('kindest/node:v1.18.19');
  });

  it("renders an existing lab from its state and PKI without changing any of the lab's files", async () => {
    const dir = await home();
    const paths = labPaths(dir, 'audit-lab');
    const state = newLabState({
      name: 'audit-lab',
      mode: 'static',
      image: 'kindest/node:v1.31.0',
      kubernetesVersion: '1.31.0',
    });
    state.receiver.host = '127.0.0.1';
    // The narrow capture: what the sinks need, no more.
    state.capture = 'sinks';
    state.sinks.push(
      newSinkState(DEFAULT_SINK),
      newSinkState({
        ...DEFAULT_SINK,
        name: 'rr',
        level: 'RequestResponse',
        stages: ['RequestReceived', 'ResponseComplete'],
      }),
    );
    await writeState(paths, state);
    const { pki } = await ensurePki(paths.pkiDir, 'audit-lab', ['127.0.0.1']);
    const before = await snapshot(paths.dir);

    const r = await runProcess(['render'], { env: { AUDIT_LAB_HOME: dir } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const f = files(r.stdout);
    expect(parse(f['policy.yaml']!)).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['ResponseStarted', 'Panic'],
      rules: [{ level: 'RequestResponse' }],
    });
    const kc = parse(f['webhook.kubeconfig']!);
    expect(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(pki.ca.cert);
    expect(parse(f['config.yaml']!).nodes[0].image).toBe('kindest/node:v1.31.0');
    expect(await snapshot(paths.dir)).toEqual(before);
  });

  it('render --sink changes an existing sink as `sink create` does: fields not given keep their values', async () => {
    const dir = await home();
    const paths = labPaths(dir, 'audit-lab');
    const state = newLabState({
      name: 'audit-lab',
      mode: 'static',
      image: 'kindest/node:v1.31.0',
      kubernetesVersion: '1.31.0',
    });
    state.capture = 'sinks';
    state.sinks.push(
      newSinkState({
        ...DEFAULT_SINK,
        name: 's1',
        level: 'Request',
        stages: ['RequestReceived'],
        throttle: { qps: 3, burst: 4 },
      }),
    );
    await writeState(paths, state);
    await ensurePki(paths.pkiDir, 'audit-lab', ['127.0.0.1']);
    const env = { AUDIT_LAB_HOME: dir };

    const rendered = await runProcess(['render', '--sink', 's1', '--level', 'RequestResponse'], { env });
    expect(rendered.code).toBe(0);
    const created = await runProcess(['sink', 'create', 's1', '--level', 'RequestResponse', '--dry-run'], { env });
    expect(created.code).toBe(0);
    // s1 keeps RequestReceived: the capture takes it, as the policy sink create would write says.
    const policy = parse(files(rendered.stdout)['policy.yaml']!);
    expect(policy).toMatchObject({ omitStages: ['ResponseStarted', 'Panic'], rules: [{ level: 'RequestResponse' }] });
    expect(parse(created.stdout.split('would become this, and the API server would restart:\n')[1]!)).toEqual(policy);
    // --qps alone keeps the sink's burst (the AuditSink a dynamic lab would render shows it).
    const dynamic = await runProcess(
      ['render', '--mode', 'dynamic', '--image', 'kindest/node:v1.18.19', '--sink', 's1', '--qps', '5'],
      { env },
    );
    expect(dynamic.code).toBe(0);
    const sinks = parseAllDocuments(files(dynamic.stdout)['audit.yaml']!).map((d) => d.toJS());
    expect(sinks.find((k) => k.metadata.name === 's1').spec.webhook.throttle).toEqual({ qps: 5, burst: 4 });
  });

  it('renders with a sink added by flags, as `sink create` would', async () => {
    const dir = await home();
    const r = await runProcess(
      [
        'render',
        '--capture',
        'sinks',
        '--sink',
        'rr',
        '--level',
        'RequestResponse',
        '--stage',
        'RequestReceived',
        '--stage',
        'ResponseComplete',
      ],
      {
        env: { AUDIT_LAB_HOME: dir },
      },
    );
    expect(r.code).toBe(0);
    expect(parse(files(r.stdout)['policy.yaml']!)).toMatchObject({
      omitStages: ['ResponseStarted', 'Panic'],
      rules: [{ level: 'RequestResponse' }],
    });
  });

  it.each<[string, string[], RegExp]>([
    ['unknown level', ['--level', 'Loud'], /--level: Unsupported value: "Loud"/],
    ['unknown stage', ['--stage', 'Finished'], /--stage: Invalid value: "Finished"/],
    ['qps 0', ['--qps', '0'], /--qps: Invalid value: 0: qps must be a positive number/],
    ['a sink name that is not DNS-1123', ['--sink', 'Bad_Name'], /NAME: Invalid value: "Bad_Name"/],
    [
      'an image tag that is not a version',
      ['--image', 'kindest/node:latest'],
      /--image "kindest\/node:latest": tag "latest" is not a Kubernetes version/,
    ],
    ['an image with no tag', ['--image', 'kindest/node'], /has no tag/],
    ['dynamic on 1.19+', ['--mode', 'dynamic', '--image', 'kindest/node:v1.31.0'], /removed in Kubernetes 1\.19/],
    ['a bad batch wait', ['--batch-max-wait', 'soon'], /--batch-max-wait "soon" is not a positive duration/],
    ['a bad receiver host', ['--receiver-host', 'a b/c'], /--receiver-host "a b\/c"/],
  ])('exits 2 on %s, with no stack and nothing written', async (_, args, message) => {
    const dir = await home();
    const r = await runProcess(['render', '--out', join(dir, 'out'), ...args], {
      env: { AUDIT_LAB_HOME: join(dir, 'labs') },
    });
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a broken state file with exit 2 and leaves it alone', async () => {
    const dir = await home();
    const paths = labPaths(dir, 'audit-lab');
    await writeState(paths, newLabState({ name: 'audit-lab', mode: 'static', image: null, kubernetesVersion: null }));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(paths.state, '{"version": 1, "mode": "static"');
    const r = await runProcess(['render'], { env: { AUDIT_LAB_HOME: dir } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`lab state ${paths.state} is not valid`);
    expect(await readFile(paths.state, 'utf8')).toBe('{"version": 1, "mode": "static"');
  });
});

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath, e.name);
      const st = await stat(p);
      out[p] = `${st.mtimeMs}:${st.mode}:${await readFile(p, 'utf8')}`;
    }
  }
  return out;
}
