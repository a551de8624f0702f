#!/usr/bin/env node
/**
 * The whole flow on a real machine: `up`, a kubectl request, the event seen by
 * `tail --no-follow`, `status`, `down`. Opt-in (`npm run test:kind`): it makes a real kind
 * cluster, which takes minutes and needs Docker. Where Docker, kind or kubectl is missing it says
 * that it did not run and why, and exits 0.
 *
 *   AUDIT_LAB_E2E_MODE=static|dynamic   (default static)
 *   AUDIT_LAB_E2E_IMAGE=kindest/node:...  node image (default: kind's, or the 1.18 one in dynamic mode)
 *   AUDIT_LAB_E2E_KEEP=1                  leave the cluster and lab for a look afterwards
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'audit-lab.js');

function capture(file, args, opts = {}) {
  return new Promise((done) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024, ...opts }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 127) : 0, stdout, stderr, missing: error?.code === 'ENOENT' });
    });
  });
}

/** Runs a command with its output shown, as a user would see it. */
function show(file, args, env) {
  process.stdout.write(`\n$ ${[file === process.execPath ? 'audit-lab' : file, ...(file === process.execPath ? args.slice(1) : args)].join(' ')}\n`);
  return new Promise((done) => {
    const child = spawn(file, args, { stdio: 'inherit', env });
    child.on('exit', (code) => done(code ?? 1));
    child.on('error', () => done(127));
  });
}

function skip(why) {
  console.log(`test:kind did not run: ${why}`);
  console.log('it needs a running Docker daemon, kind and kubectl on PATH (see `audit-lab doctor`).');
  process.exit(0);
}

function freePort() {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => done(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const docker = await capture('docker', ['info', '--format', '{{.ServerVersion}}']);
  if (docker.missing) skip('docker is not on PATH');
  if (docker.code !== 0 || docker.stdout.trim() === '') skip(`the Docker daemon is not reachable (${(docker.stderr.trim().split('\n')[0] || 'no answer')})`);
  if ((await capture('kind', ['version'])).missing) skip('kind is not on PATH');
  if ((await capture('kubectl', ['version', '--client'])).missing) skip('kubectl is not on PATH');

  const home = await mkdtemp(join(tmpdir(), 'audit-lab-e2e-'));
  const name = `audit-lab-e2e-${process.pid % 100000}`;
  const env = { ...process.env, AUDIT_LAB_HOME: home };
  const cli = (...args) => [BIN, ...args, '--name', name];
  const mode = process.env.AUDIT_LAB_E2E_MODE ?? 'static';
  const image = process.env.AUDIT_LAB_E2E_IMAGE;
  const ns = `audit-lab-e2e-${Date.now()}`;
  const started = Date.now();
  let failed = null;
  try {
    const upArgs = cli('up', '--mode', mode, '--port', String(await freePort()), '--verbose', ...(image ? ['--image', image] : []));
    if ((await show(process.execPath, upArgs, env)) !== 0) throw new Error('`audit-lab up` failed');

    // A request the default sink (Metadata, ResponseComplete) records.
    const k = await show('kubectl', ['--context', `kind-${name}`, 'create', 'namespace', ns], env);
    if (k !== 0) throw new Error('kubectl create namespace failed');

    // Static mode batches for up to 1 s; dynamic mode's AuditSinks batch for up to 30 s.
    const deadline = Date.now() + (mode === 'dynamic' ? 90_000 : 60_000);
    let seen = null;
    while (Date.now() < deadline && seen === null) {
      const t = await capture(process.execPath, cli('tail', '--no-follow', '-o', 'jsonl'), { env });
      for (const l of t.stdout.split('\n')) {
        if (l.includes(ns) && l.includes('"verb":"create"')) seen = l;
      }
      if (seen === null) await sleep(2000);
    }
    if (seen === null) throw new Error(`no audit event for "kubectl create namespace ${ns}" reached \`audit-lab tail\``);
    const event = JSON.parse(seen);
    console.log(`\nseen by tail: ${event.verb} ${event.objectRef?.resource}/${event.objectRef?.name} by ${event.user?.username} (stage ${event.stage}, level ${event.level})`);

    const st = await capture(process.execPath, cli('status', '--json'), { env });
    const status = JSON.parse(st.stdout);
    if (!status.cluster.exists || !status.receiver.running) throw new Error(`status does not show a running lab: ${st.stdout}`);
    const events = status.sinks.reduce((a, s) => a + s.events, 0);
    console.log(`status: cluster ${status.cluster.kubernetesVersion}, receiver ${status.receiver.url}, ${events} events stored`);
  } catch (err) {
    failed = err;
  } finally {
    if (process.env.AUDIT_LAB_E2E_KEEP === '1') {
      console.log(`\nkept: AUDIT_LAB_HOME=${home} audit-lab down --name ${name} --purge removes it`);
    } else {
      const d = await show(process.execPath, cli('down', '--purge'), env);
      if (d !== 0 && failed === null) failed = new Error('`audit-lab down` failed');
      await rm(home, { recursive: true, force: true });
    }
  }
  const took = `${((Date.now() - started) / 1000).toFixed(0)}s`;
  if (failed) {
    console.error(`\ntest:kind FAILED after ${took}: ${failed.message}`);
    process.exit(1);
  }
  console.log(`\ntest:kind passed (${mode} mode) in ${took}`);
}

await main();
