/**
 * The background receiver as the lifecycle commands see it: start it, stop it, ask after it
 * (daemon.ts), behind an interface so a command takes it as a dependency. daemon.ts is imported by
 * receiverControl(), not when this module loads; neither loads the server (daemon/serve.ts does).
 */
import type { LabPaths } from '../lab/paths.js';
import type { ReceiverStatus } from './daemon.js';

export interface ReceiverControl {
  ensure(paths: LabPaths): Promise<{ pid: number; url: string; started: boolean }>;
  stop(paths: LabPaths): Promise<boolean>;
  status(paths: LabPaths): Promise<ReceiverStatus>;
}

/** The lab's background receiver (daemon.ts). */
export async function receiverControl(env: NodeJS.ProcessEnv): Promise<ReceiverControl> {
  const daemon = await import('./daemon.js');
  return {
    ensure: (p) => daemon.ensureReceiver(p, { env }),
    stop: (p) => daemon.stopReceiver(p),
    status: (p) => daemon.receiverStatus(p),
  };
}

/** Host and port of a receiver URL, to tell whether a running receiver listens where the lab now says. */
export function sameListener(url: string | undefined, address: string, port: number): boolean {
  if (url === undefined) return false;
  try {
    const u = new URL(url);
    return u.hostname.replace(/^\[(.*)\]$/, '$1') === address && Number(u.port || 443) === port;
  } catch {
    return false;
  }
}
