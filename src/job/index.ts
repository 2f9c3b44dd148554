/**
 * The composition root (DESIGN.md, `src/job/`): the job configuration schema, building the seams
 * it names, and one function per use of a configuration. The CLI, doctor, the demo and library
 * users call this room.
 */
export { loadJobConfig, parseJobConfig, jobConfigSchema, fromEnvironment, type JobConfig } from './config.js';
export { openEnvironment } from './environment.js';
export { policyFromConfig } from './policy.js';
export { runDoctor, doctorHostChecks } from './doctor.js';
export {
  resolveJobConfig,
  withEnvironment,
  withRepository,
  openRepositoryOf,
  backupWithConfig,
  batchWithConfig,
  cleanupWithConfig,
  restoreWithConfig,
  pruneWithConfig,
  type JobConfigSource,
} from './run-job.js';
