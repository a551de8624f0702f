// The receiver benchmark's peers: receivers written by hand (peers/naive.mjs, the Go one in
// peers/goreceiver/) that the same load is sent to. Builds the Go one, starts each on a free
// loopback port, waits until it accepts a mutual-TLS connection, and stops every process it
// started: on stopPeers(), and on this process's exit whatever happened.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const started = new Set();

process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of started) child.kill('SIGKILL');
    process.exit(130);
  });
}

/** Whether `go` runs here. */
export function haveGo() {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Builds the Go peer into `dir` with Go's own caches (a second build is fast); its path and the time it took. */
export function buildGoPeer(dir) {
  const out = join(dir, 'benchpeer');
  const t0 = performance.now();
  const r = spawnSync('go', ['build', '-o', out, '.'], { cwd: join(here, 'goreceiver'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`go build of the Go peer failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return { path: out, ms: performance.now() - t0 };
}

/** A loopback port nothing listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a mutual-TLS handshake with 127.0.0.1:port succeeds; rejects if the child exits first. */
async function waitForTls(port, tls, gone, describe) {
  const guard = performance.now() + 60_000; // against a hang only
  for (;;) {
    if (gone()) throw new Error(`${describe()} exited before it accepted`);
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ...tls }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > guard) throw new Error(`${describe()} did not accept on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts one peer: `argv(port)` is its command line for the port chosen. `tls` holds the client's
 * PEMs (ca, cert, key) the readiness check connects with. Returns { name, pid, url, stop }.
 */
export async function startPeer(name, argv, tls) {
  const port = await freePort();
  const [cmd, ...args] = argv(port);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  let gone = false;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('exit', () => {
    gone = true;
    started.delete(child);
  });
  child.once('error', (err) => {
    // a spawn failure: no exit follows
    gone = true;
    started.delete(child);
    stderr += String(err);
  });
  const describe = () => `peer "${name}" (${[cmd, ...args].join(' ')})${stderr ? `:\n${stderr}` : ''}`;
  try {
    await waitForTls(port, tls, () => gone, describe);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const stop = async () => {
    if (gone) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return { name, pid: child.pid, url: `https://127.0.0.1:${port}`, stop };
}

/** Stops every peer still running. */
export async function stopPeers() {
  await Promise.all(
    [...started].map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      return exited.finally(() => clearTimeout(t));
    }),
  );
}

export const naivePeer = join(here, 'naive.mjs');
