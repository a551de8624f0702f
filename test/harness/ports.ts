/**
 * Each test worker's own receiver ports (a vitest setup file). Labs made by tests look for
 * receiver ports from AUDIT_LAB_FIRST_PORT, not from 8845 as a user's do: vitest.config.ts gives
 * the run a block of its own (AUDIT_LAB_TEST_PORTS), so two runs side by side do not race for one
 * port, and this gives each worker a part of it (its first ports for labs made outside a sandbox,
 * then a window per sandbox: lab.ts), so a lab in one test file never finds its port held by a lab
 * of a file another worker runs at the same time.
 */
export const PORTS_PER_WORKER = 100;

const block = Number(process.env.AUDIT_LAB_TEST_PORTS);
const worker = (Number(process.env.VITEST_POOL_ID ?? '1') - 1) % 3;
if (Number.isInteger(block) && Number.isInteger(worker)) {
  process.env.AUDIT_LAB_FIRST_PORT = String(block + worker * PORTS_PER_WORKER);
}
