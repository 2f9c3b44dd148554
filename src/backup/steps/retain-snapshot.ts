import type { SetStep } from './step.js';

/**
 * Snapshot-only, after the commits: the array snapshot is kept. The committed restore points own it
 * now (retention deletes it with the last of them), so its undo is settled.
 */
export const retainSnapshotStep: SetStep = {
  name: 'retain-snapshot',
  scope: 'set',
  settles: ['snapshot'],
  async run() {},
};
