export { LabHypervisor } from './lab-hypervisor.js';
export { createLab, type CreateLabArgs } from './lab-builder.js';
export { labWrite, labSettle, labDiskDigest, labDiskFile, type LabWriteArgs } from './lab-writer.js';
export { loadState as loadLabState, updateState as updateLabState, type LabState, type LabFaults, type LabOp } from './lab-state.js';
export { formatRctId, parseRctId } from './rct.js';

import { LabHypervisor } from './lab-hypervisor.js';
import type { Logger } from '../core/logger.js';
import { countedLab } from './counted-lab.js';

/**
 * Opens an existing lab as a Hypervisor. Where `<dir>/inflight.json` exists, the host operations a
 * per-host limit governs are counted in it per host, across processes (see countInFlight).
 */
export function openLab(dir: string, opts: { logger?: Logger } = {}): LabHypervisor {
  return countedLab(new LabHypervisor({ dir, logger: opts.logger }));
}
export { labPinFrozen } from './pin-frozen.js';
export { recoverLab, type LabRecovery } from './recover-lab.js';
