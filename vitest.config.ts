import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    // Process-level tests spawn the built CLI; give them room on a 2-core CI machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
