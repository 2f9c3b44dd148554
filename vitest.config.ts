import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'providers/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // HVSNAP_SKIP_LOG for test/helpers/requirements.ts, and the skip summary at the end of the run
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
