/**
 * `up --provider binary` and `down` against fake control plane binaries put in a --bin-dir (real
 * processes): what the user is told when a binary is missing, a download does not match its
 * checksum, a port is taken, etcd or kube-apiserver exits at start; and that `down` stops a
 * process that ignores SIGTERM and never signals a pid a stale pid file names. The real binaries
 * run in `npm run test:binary`. Build first: `npm run build`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test, type TestContext } from 'vitest';
import { controlPlaneFiles } from '../../src/controlplane/pki.js';
import { labPaths } from '../../src/lab/paths.js';
import { processStartToken } from '../../src/lab/process.js';
import { isAlive, type Result, Sandbox } from '../harness/lab.js';
import { healthyTable } from '../harness/tables.js';
import { eventually } from '../harness/wait.js';
import { releaseEnv, serveRelease, startReleaseServer } from '../controlplane/releases.js';

/** Readiness is waited for, not timed, in these tests: a fake's answer decides, never the machine's load. */
const PATIENT = { AUDIT_LAB_READY_TIMEOUT_MS: '600000' };

async function sandbox(t: TestContext): Promise<Sandbox> {
  const sb = await Sandbox.create(healthyTable());
  t.onTestFinished(async () => {
    // Whatever a failed test left running of its control plane, then the receiver.
    await sb.run(['down'], PATIENT).catch(() => undefined);
    await sb.cleanup();
  });
  return sb;
}

const apiserverVersion = (version: string) =>
  `#!/bin/bash\nif [ "$1" = "--version" ]; then echo "Kubernetes ${version}"; exit 0; fi\n`;

/**
 * etcd as the provider sees it: HTTPS on its --listen-client-urls port with the certificate,
 * key and client CA it is given, /health answering {"health":"true"}; with `ignoreTerm` it does
 * not stop on SIGTERM.
 */
function fakeEtcd(ignoreTerm = false): string {
  return `#!/usr/bin/env node
const https = require('node:https');
const fs = require('node:fs');
const arg = (name) => process.argv.find((a) => a.startsWith('--' + name + '='))?.split('=').slice(1).join('=');
const url = new URL(arg('listen-client-urls'));
const server = https.createServer(
  { cert: fs.readFileSync(arg('cert-file')), key: fs.readFileSync(arg('key-file')), ca: fs.readFileSync(arg('trusted-ca-file')), requestCert: true, rejectUnauthorized: true },
  (req, res) => res.end(req.url === '/health' ? '{"health":"true"}' : '{}'),
);
server.listen(Number(url.port), url.hostname, () => console.log('fake etcd serving on ' + url.port));
${ignoreTerm ? "process.on('SIGTERM', () => console.log('fake etcd: SIGTERM ignored'));" : ''}
`;
}

const exitsAtStart = (name: string, line: string, version = 'v1.37.2') =>
  `${apiserverVersion(version)}echo "${line}" >&2\necho "${name} gives up" >&2\nexit 1\n`;

/** A --bin-dir with the four binaries: each as given, else one that waits forever. */
async function binDir(sb: Sandbox, files: Partial<Record<string, string>>): Promise<string> {
  const dir = join(sb.dir, 'k8s-bin');
  await mkdir(dir, { recursive: true });
  const waits = '#!/bin/bash\nwhile :; do sleep 1; done\n';
  const all: Record<string, string | undefined> = {
    etcd: fakeEtcd(),
    'kube-apiserver': `${apiserverVersion('v1.37.2')}${waits}`,
    'kube-controller-manager': waits,
    'kube-scheduler': waits,
    ...files,
  };
  for (const [name, body] of Object.entries(all)) {
    if (body === undefined) continue;
    await writeFile(join(dir, name), body);
    await chmod(join(dir, name), 0o755);
  }
  return dir;
}

function failed(r: Result, code = 1): Result {
  expect(r.code, `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(code);
  return r;
}

async function pidOf(sb: Sandbox, component: 'etcd' | 'kube-apiserver'): Promise<number | null> {
  const file = controlPlaneFiles(labPaths(sb.home, 'audit-lab').dir).pids[component];
  const text = await readFile(file, 'utf8').catch(() => null);
  return text === null ? null : Number(text.split('\n')[0]);
}

async function statePorts(sb: Sandbox): Promise<Record<string, number>> {
  const state = JSON.parse(await readFile(labPaths(sb.home, 'audit-lab').state, 'utf8'));
  return state.binary.ports;
}

function listen(t: TestContext, port: number): Promise<Server> {
  const server = createServer();
  t.onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('up --provider binary, when something is wrong', () => {
  test('a --bin-dir without kube-scheduler: every missing file named, nothing started', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, { 'kube-scheduler': undefined });
    const r = failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir]));
    expect(r.stderr).toContain('kube-scheduler');
    expect(r.stderr).toContain(dir);
    expect(await sb.receiverPid()).toBeNull();
  });

  test('a download that does not match its published checksum is refused and not kept', async (t) => {
    const sb = await sandbox(t);
    const s = await startReleaseServer();
    const release = serveRelease(s);
    s.routes.set(release.paths['kube-apiserver']!.checksum, { body: `${'0'.repeat(64)}\n` });
    const caFile = join(sb.dir, 'release-ca.crt');
    await writeFile(caFile, s.ca);
    const cache = join(sb.dir, 'cache');
    const env = { ...releaseEnv(s, cache), PATH: sb.bin, NODE_EXTRA_CA_CERTS: caFile, ...PATIENT };
    const r = failed(await sb.runProcess(['up', '--provider', 'binary'], env));
    expect(r.stderr).toMatch(/kube-apiserver/);
    expect(r.stderr).toMatch(/checksum|SHA-256/i);
    expect(r.stderr).toContain('0'.repeat(64));
    const kept = await stat(join(cache, 'bin', 'v1.37.2', 'linux-amd64', 'kube-apiserver')).then(
      () => true,
      () => false,
    );
    expect(kept).toBe(false);
  });

  test('etcd that exits at start: its log lines, and no pid file left', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, {
      etcd: exitsAtStart('etcd', 'etcdmain: listener failed: bind: address already in use'),
    });
    const r = failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    expect(r.stderr).toContain('etcd exited (code 1) before it was ready');
    expect(r.stderr).toContain('bind: address already in use');
    expect(r.stderr).toContain('etcd.log');
    expect(await pidOf(sb, 'etcd')).toBeNull();
  });

  test('a port of the control plane taken by another program: said before anything starts', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, { etcd: exitsAtStart('etcd', 'etcd will not run') });
    // The first up saves the lab's ports (and fails at etcd).
    failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    const ports = await statePorts(sb);
    await listen(t, ports.etcd!);
    const r = failed(await sb.run(['up'], PATIENT));
    expect(r.stderr).toContain(`port ${ports.etcd} on 127.0.0.1 is in use by another program`);
    expect(r.stderr).toContain('--recreate');
  });

  test('kube-apiserver that exits at start: its log lines; etcd keeps running for the next up, and down stops it', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, { 'kube-apiserver': exitsAtStart('kube-apiserver', 'Error: unknown flag: --bogus') });
    const r = failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    expect(r.stderr).toContain('kube-apiserver exited (code 1) before it was ready');
    expect(r.stderr).toContain('Error: unknown flag: --bogus');
    const etcd = await pidOf(sb, 'etcd');
    expect(etcd !== null && isAlive(etcd)).toBe(true);
    const d = await sb.run(['down'], PATIENT);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout + d.stderr).toContain('deleted cluster audit-lab');
    expect(await eventually(() => !isAlive(etcd!))).toBe(true);
  });

  test('down stops a process that ignores SIGTERM (SIGKILL after the grace period)', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, {
      etcd: fakeEtcd(true),
      'kube-apiserver': exitsAtStart('kube-apiserver', 'stop here'),
    });
    failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    const etcd = await pidOf(sb, 'etcd');
    expect(etcd !== null && isAlive(etcd)).toBe(true);
    const d = await sb.run(['down'], PATIENT);
    expect(d.code, d.stderr).toBe(0);
    expect(isAlive(etcd!)).toBe(false);
    const log = await readFile(controlPlaneFiles(labPaths(sb.home, 'audit-lab').dir).logs.etcd, 'utf8');
    expect(log).toContain('fake etcd: SIGTERM ignored');
  });
});

describe('doctor on a binary lab', () => {
  test('checks kubectl, the binaries and the ports, and asks no Docker and no kind', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, { etcd: exitsAtStart('etcd', 'etcd will not run') });
    failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    await sb.clearCalls();
    const r = await sb.run(['doctor', '-o', 'json']);
    const doc = JSON.parse(r.stdout) as { checks: { check: string; status: string; message: string }[] };
    expect(doc.checks.map((c) => c.check)).toEqual(['kubectl', 'binaries', 'port', 'control plane ports', 'pki']);
    expect(doc.checks.find((c) => c.check === 'binaries')?.message).toContain(dir);
    expect((await sb.calls()).map((c) => c.tool)).not.toContain('docker');
    expect((await sb.calls()).map((c) => c.tool)).not.toContain('kind');
  });
});

describe('a stale pid file', () => {
  let bystander: ChildProcess | null = null;

  test('names another live process: down does not signal it and says there is no cluster', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, { etcd: exitsAtStart('etcd', 'no etcd today') });
    failed(await sb.run(['up', '--provider', 'binary', '--bin-dir', dir], PATIENT));
    bystander = spawn('sleep', ['300'], { stdio: 'ignore' });
    t.onTestFinished(() => {
      bystander?.kill('SIGKILL');
    });
    await new Promise<void>((r) => bystander!.once('spawn', () => r()));
    const pid = bystander.pid!;
    const token = await processStartToken(pid);
    const files = controlPlaneFiles(labPaths(sb.home, 'audit-lab').dir);
    // Its pid, but a start time that is not its own: the file outlived the process it named.
    await writeFile(files.pids['kube-apiserver'], `${pid}\n${token}0\nabc\n`);
    const d = await sb.run(['down'], PATIENT);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('no cluster "audit-lab"');
    expect(isAlive(pid)).toBe(true);
  });
});

describe('up --provider binary: flags', () => {
  test('--dry-run prints the processes it would start, with the audit flags, and makes nothing', async (t) => {
    const sb = await sandbox(t);
    const dir = await binDir(sb, {});
    const r = await sb.run(['up', '--provider', 'binary', '--bin-dir', dir, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`$ ${join(dir, 'kube-apiserver')} `);
    expect(r.stdout).toContain(`--audit-policy-file=${labPaths(sb.home, 'audit-lab').policy}`);
    expect(r.stdout).toContain('--bind-address=127.0.0.1');
    expect(r.stdout).toContain('kubectl config set-context audit-lab-audit-lab');
    const made = await stat(labPaths(sb.home, 'audit-lab').dir).then(
      () => true,
      () => false,
    );
    expect(made).toBe(false);
  });

  test("kind's flags are refused with --provider binary, and binary's without it (exit 2)", async (t) => {
    const sb = await sandbox(t);
    const a = failed(await sb.run(['up', '--provider', 'binary', '--image', 'kindest/node:v1.31.0']), 2);
    expect(a.stderr).toContain('--image');
    const b = failed(await sb.run(['up', '--bin-dir', '/nowhere']), 2);
    expect(b.stderr).toContain('--bin-dir is for --provider binary');
  });
});
