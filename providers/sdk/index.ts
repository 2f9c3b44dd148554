/** The provider SDK: the contract, defineProvider, the runtime guard, HTTP helpers and identity helpers. */
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
