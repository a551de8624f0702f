import { configDefaults, defineConfig } from 'vitest/config';

// Labs made by tests look for receiver ports from here, not from 8845 as a user's do: a block of
// 320 of this run's own, so two runs side by side (and a real lab) do not race for one port; each
// worker takes a part of it and each sandbox a window of that (test/harness/ports.ts, lab.ts).
// Below the harness's freePort range (25000 up) and Linux's ephemeral ports (32768 up), which
// outgoing connections take and free all the time.
const FIRST_PORT = 10_000 + (process.pid % 46) * 320;

export default defineConfig({
  test: {
    // TZ: a run in this process formats times in this process's zone; UTC, as the tests' processes get.
    env: {
      AUDIT_LAB_TEST_PORTS: String(FIRST_PORT),
      AUDIT_LAB_FIRST_PORT: String(FIRST_PORT),
      // A receiver started by a test is waited for, however loaded the machine (a test seam).
      AUDIT_LAB_RECEIVER_START_TIMEOUT_MS: '600000',
      TZ: 'UTC',
    },
    setupFiles: ['./test/harness/ports.ts'],
    include: ['test/**/*.test.ts'],
    // The page's tests drive a real Chromium: `npm run test:browser`, with a config of their own.
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    // Three test files at once on two cores: the suite is mostly CPU, but many files also wait
    // (on sockets, on processes they started); vitest's default here is one (cores - 1).
    maxWorkers: 3,
    // A worker runs file after file without a new process and module graph for each: that
    // start-up was a fifth of the suite's CPU. Tests share no state through modules (no mocks,
    // nothing written to cwd or a module's variables; to process.env only what the setup file sets,
    // the same for every file a worker runs), so nothing carries over.
    isolate: false,
    reporters: ['default', './test/summary-reporter.ts'],
    // Process-level tests spawn the built CLI, several at once (describe.concurrent), and the lock
    // test runs ten processes: on a busy 2-core machine one `up` against the fakes took up to 30 s
    // (7 s alone), and with four suites on two cores one took over 90 s. A guard against hangs, not a
    // measure of speed.
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
