/** The tool adapters: pure argument builders and parsers, and the one runner. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { planOptions, upState } from '../../src/cluster/up.js';
import { countSinkEvents } from '../../src/streams/stats.js';
import { dynamicFindings } from '../../src/cluster/checks.js';
import type { UpOptions } from '../../src/commands/up.js';
import { ToolError } from '../../src/errors.js';
import { DEFAULT_DYNAMIC_IMAGE } from '../../src/lab/mode.js';
import { DEFAULT_SINK, newLabState, newSinkState } from '../../src/lab/state.js';
import { DEFAULT_TIMING, manifestWired, timingFromEnv } from '../../src/cluster/apiserver.js';
import { dockerArgs, parseDockerInfo, parseGateway } from '../../src/tools/docker.js';
import {
  controlPlaneNode,
  kindArgs,
  kindProgressText,
  kubeContext,
  parseKindClusters,
  parseKindVersion,
} from '../../src/tools/kind.js';
import { kubectlArgs, kubectlVerbs, parseKubectlVersion } from '../../src/tools/kubectl.js';
import { sameListener } from '../../src/daemon/control.js';
import { commandLine, createRunner, ToolMissing } from '../../src/tools/run.js';

describe('kind', () => {
  test.each([
    [
      { name: 'audit-lab', config: '/l/config.yaml' },
      ['create', 'cluster', '--name', 'audit-lab', '--config', '/l/config.yaml'],
    ],
    [{ name: 'x', config: '/c', image: null }, ['create', 'cluster', '--name', 'x', '--config', '/c']],
    [
      { name: 'x', config: '/c', image: 'kindest/node:v1.31.0' },
      ['create', 'cluster', '--name', 'x', '--config', '/c', '--image', 'kindest/node:v1.31.0'],
    ],
  ])('create cluster %j', (o, argv) => {
    expect(kindArgs.createCluster(o)).toEqual(argv);
  });

  test('other verbs and names', () => {
    expect(kindArgs.deleteCluster('lab')).toEqual(['delete', 'cluster', '--name', 'lab']);
    expect(kindArgs.getClusters()).toEqual(['get', 'clusters']);
    expect(kindArgs.version()).toEqual(['version']);
    expect(kubeContext('lab')).toBe('kind-lab');
    expect(controlPlaneNode('lab')).toBe('lab-control-plane');
  });

  test.each([
    ['audit-lab\nother\n', ['audit-lab', 'other']],
    ['', []],
    ['No kind clusters found.\n', []],
  ])('get clusters %j', (out, names) => {
    expect(parseKindClusters(out)).toEqual(names);
  });

  test.each([
    ['kind v0.11.1 go1.16.4 linux/amd64', '0.11.1'],
    ['kind v0.29.0 go1.24.2 darwin/arm64', '0.29.0'],
    ['kind v0.8.1 go1.14.2 linux/amd64', '0.8.1'],
    ['v0.5.1', '0.5.1'],
    ['kind v0.30.0-alpha+abc go1.24 linux/amd64', '0.30.0-alpha'],
    ['something else', null],
  ])('version %j', (text, v) => {
    expect(parseKindVersion(text)).toBe(v);
  });

  test('progress lines lose their decorations', () => {
    expect(kindProgressText(' ✓ Ensuring node image (kindest/node:v1.33.1) 🖼')).toBe(
      'Ensuring node image (kindest/node:v1.33.1)',
    );
    expect(kindProgressText(' • Starting control-plane 🕹️  ...')).toBe('Starting control-plane ...');
  });
});

describe('kubectl', () => {
  test('every cluster verb names the context', () => {
    expect(kubectlArgs('kind-lab', ['get', 'pods'])).toEqual(['--context', 'kind-lab', 'get', 'pods']);
    expect(kubectlVerbs.readyz('kind-lab')).toEqual(['--context', 'kind-lab', 'get', '--raw', '/readyz']);
    expect(kubectlVerbs.apply('kind-lab', '/l/audit.yaml')).toEqual([
      '--context',
      'kind-lab',
      'apply',
      '-f',
      '/l/audit.yaml',
    ]);
    expect(kubectlVerbs.version('kind-lab')).toEqual(['--context', 'kind-lab', 'version', '-o', 'json']);
    expect(kubectlVerbs.auditSinks('kind-lab')).toEqual(['--context', 'kind-lab', 'get', 'auditsinks', '-o', 'name']);
    expect(kubectlVerbs.clientVersion()).toEqual(['version', '--client', '-o', 'json']);
  });

  test('versions', () => {
    const json = JSON.stringify({
      clientVersion: { gitVersion: 'v1.33.0' },
      serverVersion: { gitVersion: 'v1.18.19' },
    });
    expect(parseKubectlVersion(json, 'client')).toBe('v1.33.0');
    expect(parseKubectlVersion(json, 'server')).toBe('v1.18.19');
    expect(parseKubectlVersion(JSON.stringify({ clientVersion: { gitVersion: 'v1.33.0' } }), 'server')).toBeNull();
    expect(parseKubectlVersion('error: not json', 'client')).toBeNull();
  });
});

describe('docker', () => {
  test('argument builders', () => {
    expect(dockerArgs.info()).toEqual(['info', '--format', '{{json .}}']);
    expect(dockerArgs.networkInspect('kind')).toEqual([
      'network',
      'inspect',
      'kind',
      '--format',
      '{{json .IPAM.Config}}',
    ]);
    expect(dockerArgs.exec('n', ['curl', '-fsSk', 'https://x'])).toEqual(['exec', 'n', 'curl', '-fsSk', 'https://x']);
    expect(dockerArgs.exec('n', ['sh'], { stdin: true })).toEqual(['exec', '-i', 'n', 'sh']);
    expect(dockerArgs.containerState('n')).toEqual(['inspect', '--format', '{{.State.Status}}', 'n']);
  });

  test('info: Linux, Docker Desktop, and a daemon that is down', () => {
    expect(
      parseDockerInfo(
        JSON.stringify({ ServerVersion: '28.1.1', OperatingSystem: 'Ubuntu 24.04.2 LTS', CgroupVersion: '2' }),
      ),
    ).toEqual({
      serverVersion: '28.1.1',
      operatingSystem: 'Ubuntu 24.04.2 LTS',
      cgroupVersion: '2',
      serverErrors: [],
      desktop: false,
    });
    expect(
      parseDockerInfo(
        JSON.stringify({ ServerVersion: '27.0.3', OperatingSystem: 'Docker Desktop', CgroupVersion: '2' }),
      )?.desktop,
    ).toBe(true);
    // What a docker 28 client prints with no daemon (exit 1, the message on stderr).
    const down = parseDockerInfo(
      '{"ID":"","ServerVersion":"","OperatingSystem":"","ClientInfo":{"Version":"28.2.2"}}\n',
    );
    expect(down).toMatchObject({ serverVersion: null, operatingSystem: null, desktop: false });
    expect(parseDockerInfo('')).toBeNull();
  });

  test.each([
    ['[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"},{"Subnet":"fc00:f853:ccd:e793::/64"}]', '172.18.0.1'],
    [
      '[{"Subnet":"fc00:f853:ccd:e793::/64","Gateway":"fc00:f853:ccd:e793::1"},{"Subnet":"127.0.0.0/8","Gateway":"127.0.0.1"}]',
      '127.0.0.1',
    ],
    // Some daemons leave Gateway out; the bridge takes the subnet's first address.
    ['[{"Subnet":"10.89.0.0/24"}]', '10.89.0.1'],
    ['[{"Subnet":"fc00:f853:ccd:e793::/64"}]', null],
    ['[]', null],
    ['null', null],
    ['Error: No such network: kind', null],
  ])('gateway of %s', (out, gw) => {
    expect(parseGateway(out)).toBe(gw);
  });
});

describe('apiserver', () => {
  test('wiring of each mode is read from the manifest', () => {
    const staticManifest = '    - --audit-webhook-config-file=/etc/kubernetes/audit-lab/webhook.kubeconfig\n';
    const dynamicManifest = '    - --audit-dynamic-configuration=true\n';
    expect(manifestWired(staticManifest, 'static')).toBe(true);
    expect(manifestWired(staticManifest, 'dynamic')).toBe(false);
    expect(manifestWired(dynamicManifest, 'dynamic')).toBe(true);
    expect(manifestWired('    - --authorization-mode=Node,RBAC\n', 'static')).toBe(false);
  });

  test("timing: defaults wait longer than kubelet's 20 s check; the env seams shorten them", () => {
    expect(DEFAULT_TIMING.pauseMs).toBeGreaterThan(20_000);
    expect(timingFromEnv({})).toEqual(DEFAULT_TIMING);
    expect(
      timingFromEnv({ AUDIT_LAB_APISERVER_PAUSE_MS: '50', AUDIT_LAB_READY_TIMEOUT_MS: '400', AUDIT_LAB_POLL_MS: 'x' }),
    ).toEqual({
      pauseMs: 50,
      readyTimeoutMs: 400,
      pollMs: DEFAULT_TIMING.pollMs,
    });
  });

  test('timing: AUDIT_LAB_READY_CALL_TIMEOUT_MS is the limit of each /readyz call (a test seam); unset, none', () => {
    const callMs = (v: string | undefined) => timingFromEnv({ AUDIT_LAB_READY_CALL_TIMEOUT_MS: v }).readyCallMs;
    expect(callMs('600000')).toBe(600_000);
    for (const v of [undefined, '', 'x', '0']) expect(callMs(v)).toBeUndefined();
  });
});

describe('runner', () => {
  const env = { PATH: dirname(process.execPath) };
  const node = process.execPath;

  test('keeps stdout and stderr, streams lines, passes input', async () => {
    const lines: string[] = [];
    const r = await createRunner(env).run(node, ['-e', 'process.stdin.pipe(process.stdout); console.error("two")'], {
      input: 'one\n',
      onLine: (l, s) => lines.push(`${s}:${l}`),
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('one');
    expect(r.stderr).toBe('two');
    expect(lines.sort()).toEqual(['stderr:two', 'stdout:one']);
  });

  test('a failure is a ToolError with the command line and the output', async () => {
    const err = await createRunner(env)
      .run(node, ['-e', 'console.log("partial"); console.error("ERROR: boom"); process.exit(3)'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    const te = err as ToolError;
    expect(te.command).toEqual([node, '-e', 'console.log("partial"); console.error("ERROR: boom"); process.exit(3)']);
    expect(te.output).toContain('partial');
    expect(te.output).toContain('ERROR: boom');
    expect(te.message).toMatch(/failed \(exit 3\)/);
  });

  test('allowFailure returns the exit code instead', async () => {
    const r = await createRunner(env).run(node, ['-e', 'process.exit(4)'], { allowFailure: true });
    expect(r.exitCode).toBe(4);
  });

  test('a timeout stops the program and says so', async () => {
    const err = await createRunner(env)
      .run(node, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).message).toMatch(/did not finish within 0s and was stopped|did not finish within/);
  });

  test('a program not on PATH is a ToolMissing that says how to install it', async () => {
    const err = await createRunner({ PATH: '/nonexistent' })
      .run('kind', ['version'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolMissing);
    expect((err as ToolMissing).message).toBe('kind is not on PATH');
    expect((err as ToolMissing).hint).toContain('https://kind.sigs.k8s.io/docs/user/quick-start/#installation');
  });

  test('the PATH given is the one used (tests put fakes first)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-lab-runner-'));
    try {
      await writeFile(join(dir, 'kubectl'), '#!/bin/sh\necho "fake kubectl $*"\n', { mode: 0o755 });
      const r = await createRunner({ PATH: dir }).run('kubectl', ['--context', 'kind-x', 'get', '--raw', '/readyz']);
      expect(r.stdout).toBe('fake kubectl --context kind-x get --raw /readyz');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('command lines are quoted for a shell only where needed', () => {
    expect(commandLine(['docker', 'info', '--format', '{{json .}}'])).toBe("docker info --format '{{json .}}'");
    expect(commandLine(['kind', 'create', 'cluster', '--name', 'a', '--config', '/x/config.yaml'])).toBe(
      'kind create cluster --name a --config /x/config.yaml',
    );
    expect(commandLine(['echo', "it's"])).toBe(`echo 'it'\\''s'`);
  });
});

describe('up planning', () => {
  // As the CLI gives it for a bare `up`: flags not given are left out.
  const base: UpOptions = {
    name: 'audit-lab',
    sink: true,
    dryRun: false,
    recreate: false,
    verbose: false,
  };

  test('a new lab takes every flag and the defaults; --no-sink leaves it without sinks', () => {
    expect(upState(base, null)).toMatchObject({
      mode: 'static',
      capture: 'full',
      kindConfigApi: 'v1alpha4',
      webhook: { batchMaxWait: '100ms' },
    });
    const s = upState({ ...base, capture: 'sinks', port: 9000 }, null);
    expect(s).toMatchObject({ mode: 'static', capture: 'sinks', receiver: { port: 9000 } });
    expect(s.sinks.map((k) => k.name)).toEqual(['default']);
    expect(upState({ ...base, sink: false }, null).sinks).toEqual([]);
    expect(upState({ ...base, mode: 'dynamic' }, null)).toMatchObject({
      mode: 'dynamic',
      image: DEFAULT_DYNAMIC_IMAGE,
    });
  });

  test('an existing lab keeps what flags not given do not say; flags given change it', () => {
    const existing = {
      ...newLabState({
        name: 'audit-lab',
        mode: 'dynamic',
        image: DEFAULT_DYNAMIC_IMAGE,
        kubernetesVersion: '1.18.19',
      }),
      capture: 'sinks' as const,
    };
    existing.webhook.batchMaxWait = '5s';
    existing.sinks = [newSinkState(DEFAULT_SINK)];
    expect(planOptions(base)).toEqual({ name: 'audit-lab' });
    const s = upState({ ...base, sink: false }, existing);
    expect(s).toMatchObject({
      mode: 'dynamic',
      image: DEFAULT_DYNAMIC_IMAGE,
      capture: 'sinks',
      webhook: { batchMaxWait: '5s' },
    });
    // --no-sink does not delete sinks a lab has.
    expect(s.sinks.map((k) => k.name)).toEqual(['default']);
    // Given explicitly, even the default value is a change (commander used to make these indistinguishable).
    expect(upState({ ...base, capture: 'full' }, existing).capture).toBe('full');
    expect(upState({ ...base, batchMaxWait: '2s' }, existing).webhook.batchMaxWait).toBe('2s');
  });
});

describe('status helpers', () => {
  test('events are counted over <sink>.log and its rotations; the last time comes from the newest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-lab-streams-'));
    try {
      const ev = (t: string) => `${JSON.stringify({ auditID: t, stageTimestamp: t })}\n`;
      await writeFile(join(dir, 'default.log'), `${ev('2025-01-01T00:00:03Z')}{"torn":`);
      await writeFile(join(dir, 'default.log.1'), ev('2025-01-01T00:00:02Z') + ev('2025-01-01T00:00:02.5Z'));
      await writeFile(join(dir, 'default.log.2'), ev('2025-01-01T00:00:01Z'));
      await writeFile(join(dir, 'defaultx.log'), ev('2025-01-01T00:00:09Z'));
      await mkdir(join(dir, 'sub'));
      expect(await countSinkEvents(dir, 'default')).toEqual({
        events: 4,
        lastEvent: '2025-01-01T00:00:03Z',
        files: [join(dir, 'default.log'), join(dir, 'default.log.1'), join(dir, 'default.log.2')],
      });
      expect(await countSinkEvents(dir, 'none')).toEqual({ events: 0, lastEvent: null, files: [] });
      expect(await countSinkEvents(join(dir, 'missing'), 'default')).toEqual({ events: 0, lastEvent: null, files: [] });
      // Only a rotated file left (the current one rotated away and nothing written since).
      await rm(join(dir, 'default.log'));
      expect((await countSinkEvents(dir, 'default')).lastEvent).toBe('2025-01-01T00:00:02.5Z');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a receiver URL is matched on host and port', () => {
    expect(sameListener('https://172.18.0.1:8845', '172.18.0.1', 8845)).toBe(true);
    expect(sameListener('https://127.0.0.1:8845', '172.18.0.1', 8845)).toBe(false);
    expect(sameListener('https://[::1]:9000', '::1', 9000)).toBe(true);
    expect(sameListener(undefined, '127.0.0.1', 8845)).toBe(false);
  });
});

describe('doctor findings for dynamic mode', () => {
  const info = (cgroup: string) => ({
    serverVersion: '28',
    operatingSystem: 'Ubuntu',
    cgroupVersion: cgroup,
    serverErrors: [],
    desktop: false,
  });

  test('cgroup v2 fails when dynamic mode is needed, warns otherwise', () => {
    expect(dynamicFindings(info('2'), '0.11.1', { needed: true })[0]).toMatchObject({
      check: 'cgroup',
      status: 'fail',
    });
    expect(dynamicFindings(info('2'), '0.11.1', { needed: false })[0]).toMatchObject({
      check: 'cgroup',
      status: 'warn',
    });
    expect(dynamicFindings(info('1'), '0.11.1', { needed: true })[0]).toMatchObject({ check: 'cgroup', status: 'ok' });
  });

  test('the default 1.18 image wants kind v0.11.1', () => {
    expect(dynamicFindings(info('1'), '0.11.1', { needed: true })[1]).toMatchObject({
      check: 'kind release',
      status: 'ok',
    });
    const f = dynamicFindings(info('1'), '0.20.0', { needed: true })[1]!;
    expect(f).toMatchObject({ check: 'kind release', status: 'warn' });
    expect(f.fix).toContain('go install sigs.k8s.io/kind@v0.11.1');
  });
});
