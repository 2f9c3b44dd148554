import { attachStep } from './attach.js';
import { attachHostStep } from './attach-host.js';
import { changedRangesStep } from './changed-ranges.js';
import { checkpointStep } from './checkpoint.js';
import { commitHostStep, commitSnapshotOnlyStep, commitStep } from './commit.js';
import { convertStep } from './convert.js';
import { convertAfterCopyStep } from './convert-after-copy.js';
import { copyStep } from './copy.js';
import { deleteCheckpointStep } from './delete-checkpoint.js';
import { exportStep } from './export.js';
import { openRestorePointStep } from './open-restore-point.js';
import { presentStep } from './present.js';
import { ensureHostStep, findHostStep } from './ensure-host.js';
import { preconditionsStep } from './preconditions.js';
import { retainSnapshotStep } from './retain-snapshot.js';
import { snapshotStep } from './snapshot.js';
import type { Step } from './step.js';
import { supersedeStep } from './supersede.js';

export type { Step, SetStep, VmStep, UndoSpec, SetRun, VmRun, Slots, RestorePointWriter } from './step.js';
export { liveVms } from './step.js';

/**
 * The backup modes (DESIGN.md): each is a list over the same step modules, run by
 * `runSteps`. What is still registered when a list ends (the detach, the unpresent, the delete of
 * a snapshot that is not kept) is undone by the runner: that is step 8. A new mode is a new list.
 */
export const backupModes = {
  /** steps 1–8: copy through the proxy, keep a reference point, throw the snapshot away */
  offload: [
    preconditionsStep,
    checkpointStep,
    snapshotStep,
    exportStep,
    changedRangesStep,
    convertStep,
    findHostStep,
    ensureHostStep,
    presentStep,
    attachStep,
    openRestorePointStep,
    copyStep,
    commitStep,
    supersedeStep,
  ],
  /** steps 1–3: the retained array snapshot is the restore point; the checkpoint goes at once */
  'snapshot-only': [
    preconditionsStep,
    checkpointStep,
    snapshotStep,
    exportStep,
    deleteCheckpointStep,
    { ...openRestorePointStep, slots: 'repository' },
    commitSnapshotOnlyStep,
    retainSnapshotStep,
  ],
  /** no array: the checkpoint lives while the proxy reads the frozen base over SFTP, then becomes the reference point */
  host: [checkpointStep, exportStep, changedRangesStep, attachHostStep, openRestorePointStep, copyStep, convertAfterCopyStep, commitHostStep, supersedeStep],
} satisfies Record<string, Step[]>;

export type BackupMode = keyof typeof backupModes;
