import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native TensorFlow and sharp are safest in child processes, not worker threads.
    pool: 'forks',
    globalSetup: ['./test/support/temp-root.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/backend/stress.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'stress', include: ['test/backend/stress.test.ts'] },
      },
    ],
  },
});
