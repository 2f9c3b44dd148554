/**
 * The VHDX engine: reader (log replay in memory, differencing chains), writer (dynamic, fixed,
 * differencing child, one-pass stream), info and check. See types.ts for the API contract.
 */
export type { CreateVhdxOptions, OpenVhdxOptions, VhdxChunk, VhdxImage, WriteVhdxStreamOptions } from './types.js';
export { createVhdx } from './create-vhdx.js';
export { openVhdx, MAX_CHAIN_DEPTH, type OpenedVhdx } from './open-vhdx.js';
export { writeVhdxStream } from './write-vhdx-stream.js';
export { prefixResolver, type ParentResolver } from './parent.js';
export { createDifferencingVhdx, type CreateDifferencingVhdxOptions } from './create-differencing-vhdx.js';
export { vhdxInfo, formatVhdxInfo, type VhdxInfo } from './vhdx-info.js';
export { checkVhdx, type VhdxCheckResult, type VhdxFinding } from './check-vhdx.js';
export { mergeVhdx } from './merge-vhdx.js';
export { allocReadBuffer } from '../core/read-buffer.js';
export { vhdxSha256 } from './vhdx-sha256.js';
