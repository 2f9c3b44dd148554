export * from './errors.js';
export * from './logger.js';
export * from './types.js';
export * from './ranges.js';
export * from './file-lock.js';
export * from './volume-marker.js';
export * from './random.js';
export * from './process-alive.js';
