import { defineConfig } from 'vitest/config';

// The page's tests: a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against the built
// page in dist/web/public. One file at a time: a browser is heavy on a shared 2-core machine.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    env: { TZ: 'UTC', PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
    maxWorkers: 1,
    fileParallelism: false,
    // A guard against hangs on a loaded machine, not a measure of speed.
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
