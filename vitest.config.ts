import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    // Process-level tests spawn the built CLI, several at once (describe.concurrent), and the lock
    // test runs ten processes: on a busy 2-core machine one `up` against the fakes took up to 30 s
    // (7 s alone). A guard against hangs, not a measure of speed.
    testTimeout: 90_000,
    hookTimeout: 90_000,
  },
});
