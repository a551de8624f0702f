/** Waiting for what a test cannot be told of by an event. */

/**
 * How long a wait for an event gives up after: only a guard against a hang (a broken build, a
 * test whose premise is wrong), far beyond what any event takes on a loaded machine, and below
 * vitest's own test timeout so the guard's message is the one shown. Nothing is measured.
 */
export const GUARD_MS = 240_000;

/**
 * Polls until `check` passes or the attempts run out (by default, once GUARD_MS has gone by), for
 * a state no event announces (a process that is not this one's child dying, a counter inside a
 * server). Behaviour, not timing, is what is asserted.
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  attempts?: number,
  everyMs = 50,
): Promise<boolean> {
  attempts ??= Math.ceil(GUARD_MS / everyMs);
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}
