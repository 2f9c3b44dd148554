import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  // examples/provider-skeleton imports hvsnap by its package name: here that is this repository's source
  // (tsconfig.json `paths` says the same to tsc); test/providers/provider-kit.test.ts runs it from the packed tarball
  resolve: {
    alias: [
      { find: /^hvsnap\/sdk$/, replacement: here('./providers/sdk/index.ts') },
      { find: /^hvsnap\/conformance\/vitest$/, replacement: here('./providers/conformance/vitest.ts') },
      { find: /^hvsnap\/conformance$/, replacement: here('./providers/conformance/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'providers/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', '**/node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // HVSNAP_SKIP_LOG for test/helpers/requirements.ts, and the skip summary at the end of the run
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
