/**
 * Receiver ports. Labs side by side each need their own: on Linux every lab's receiver listens on
 * the same kind network gateway, so a port is taken whether or not a lab's receiver runs now. A
 * new lab takes the first port from 8845 up that no other lab keeps and nothing listens on.
 */
import { createServer } from 'node:net';
import { RuntimeFailure } from '../errors.js';
import { labNames } from './labs.js';
import { labPaths } from './paths.js';
import { type ControlPlanePorts, DEFAULT_RECEIVER_PORT, firstReceiverPort, readState } from './state.js';

export type PortProbe = 'free' | 'in-use' | 'unavailable';

/** Whether something listens on address:port. '0.0.0.0' asks about every IPv4 address at once. */
export function probePort(address: string, port: number): Promise<PortProbe> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve('in-use');
      else if (err.code === 'EADDRNOTAVAIL') resolve('unavailable');
      else reject(err);
    });
    srv.listen({ host: address, port, exclusive: true }, () => srv.close(() => resolve('free')));
  });
}

/** The receiver port each other lab under `home` keeps, to the lab's name. Unreadable labs are skipped. */
export async function otherLabsPorts(home: string, name: string): Promise<Map<number, string>> {
  const ports = new Map<number, string>();
  for (const other of await labNames(home)) {
    if (other === name) continue;
    try {
      const state = await readState(labPaths(home, other));
      if (state && state.receiver.port > 0) ports.set(state.receiver.port, other);
      for (const port of Object.values(state?.binary?.ports ?? {})) ports.set(port, other);
    } catch {
      // Not a lab, or one whose state cannot be read: it claims no port.
    }
  }
  return ports;
}

const SEARCHED = 100;

/** The port a new lab takes: the first from 8845 up that no other lab keeps and nothing listens on. */
export async function pickReceiverPort(
  home: string,
  name: string,
  probe = probePort,
  first = firstReceiverPort(),
): Promise<number> {
  const kept = await otherLabsPorts(home, name);
  for (let port = first; port < first + SEARCHED; port++) {
    if (kept.has(port)) continue;
    if ((await probe('0.0.0.0', port)) === 'free') return port;
  }
  throw new RuntimeFailure(
    `no free receiver port in ${first}-${first + SEARCHED - 1} (other labs keep ${kept.size} of them)`,
    'choose one with --port N (--port 0 takes any free one)',
  );
}

/** Where a new binary lab's control plane looks for ports from: above the receivers' (8845 up). */
export const FIRST_CONTROL_PLANE_PORT = 16_443;

/**
 * 16443, or 50 above AUDIT_LAB_FIRST_PORT (the test seam of firstReceiverPort): a test run's labs
 * take control plane ports from its own block too.
 */
export function firstControlPlanePort(env: NodeJS.ProcessEnv = process.env): number {
  const first = firstReceiverPort(env);
  return env.AUDIT_LAB_FIRST_PORT !== undefined && first !== DEFAULT_RECEIVER_PORT
    ? first + 50
    : FIRST_CONTROL_PLANE_PORT;
}

/**
 * Five ports for a new binary lab's processes, on 127.0.0.1: the first from `first` up that no
 * other lab keeps and nothing listens on.
 */
export async function pickControlPlanePorts(
  home: string,
  name: string,
  first = FIRST_CONTROL_PLANE_PORT,
  probe = probePort,
): Promise<ControlPlanePorts> {
  const kept = await otherLabsPorts(home, name);
  const found: number[] = [];
  for (let port = first; port < first + SEARCHED && found.length < 5; port++) {
    if (!kept.has(port) && (await probe('127.0.0.1', port)) === 'free') found.push(port);
  }
  const [etcd, etcdPeer, apiserver, controllerManager, scheduler] = found;
  if (scheduler === undefined) {
    throw new RuntimeFailure(
      `no 5 free loopback ports in ${first}-${first + SEARCHED - 1} for the control plane`,
      'stop what listens there, or remove labs you no longer use (`audit-lab list`, `audit-lab down --purge`)',
    );
  }
  return { etcd: etcd!, etcdPeer: etcdPeer!, apiserver: apiserver!, controllerManager: controllerManager!, scheduler };
}
