/**
 * A new sink's state: its own secret token and copies of what it was made from. Apart from
 * state.ts, which loads the state's checks (and through them the policy engine): flag parsing
 * needs only this, and `--version` and `--help` load every command's flags.
 */
import { randomBytes } from 'node:crypto';
import type { SinkSpec } from '../audit/model.js';

/** A sink as state.ts's SinkState holds it when new: its spec, its token and when it was made (no policy yet). */
export type NewSinkState = SinkSpec & { token: string; createdAt: string };

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** A new sink with its own token; its stages and throttle are copies, never shared with `spec`. */
export function newSinkState(spec: Readonly<SinkSpec>, now = new Date()): NewSinkState {
  return {
    ...spec,
    stages: [...spec.stages],
    throttle: { ...spec.throttle },
    token: newToken(),
    createdAt: now.toISOString(),
  };
}
