/** The provider conformance suite. The vitest entry is `./vitest.js` (kept apart so the CLI never loads vitest). */
export { conformanceCases, type CaseContext, type ConformanceCase } from './cases.js';
export { check, expectKind, ConformanceFailure } from './check.js';
export { ResourceTracker } from './tracker.js';
export {
  runConformance,
  openConformanceSession,
  checkShape,
  type ConformanceArgs,
  type ConformanceReport,
  type CaseResult,
  type ConformanceSession,
} from './run-conformance.js';
export { runProviderTest, providerTestFileSchema } from './provider-test.js';
