/**
 * The provider SDK (`hvsnap/sdk`): everything a driver needs — the contract, defineProvider, the
 * runtime guard, error helpers, HTTP helpers (retry, auth strategies, long polls, jobs), name and
 * initiator rules, identity helpers, zod, and a logger for tests.
 */
export { z } from 'zod';
export type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
export { HvsnapError, isHvsnapError, throwIfAborted } from '../../src/core/errors.js';
export { silentLogger, captureLogger, type Logger, type CapturedLine } from '../../src/core/logger.js';
export * from './provider.js';
export * from './errors.js';
export * from './define-provider.js';
export * from './guard-provider.js';
export * from './http-client.js';
export * from './auth.js';
export * from './retry-delay.js';
export * from './poll-job.js';
export * from './redact.js';
export * from './disk-identity.js';
export * from './http-config.js';
export * from './busy-retry.js';
export * from './name-rules.js';
export * from './initiators.js';
export * from './session-auth.js';
export * from './snapshot-ready.js';
