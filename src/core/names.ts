import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/**
 * Every name hvsnap gives to what it creates outside its own process, built in one place so that
 * the code that creates an object and the code that finds it again after a crash (cleanup, the
 * stale-checkpoint sweep, retention) agree. Names derive from the job id, which makes creates
 * idempotent by name (STYLE.md, practice 2).
 */

/** The tag every checkpoint and reference point of hvsnap carries, followed by the job id. */
export const CHECKPOINT_TAG = 'hvsnap:';

/** The prefix of every array object (snapshot, presentation) hvsnap names. */
export const ARRAY_NAME_PREFIX = 'hvsnap-';

/** The folder, inside a repository, that holds the job journals. */
export const JOURNAL_FOLDER = '.journal';

/** The name of a job's recovery checkpoints: `hvsnap:<jobId>`. */
export function checkpointName(jobId: string): string {
  return `${CHECKPOINT_TAG}${jobId}`;
}

/** The job id in a checkpoint name made by {@link checkpointName}, or undefined for another name. */
export function jobIdOfCheckpoint(name: string): string | undefined {
  return name.startsWith(CHECKPOINT_TAG) ? name.slice(CHECKPOINT_TAG.length) : undefined;
}

/** The array snapshot of volume set `setIndex` of a job: `hvsnap-<jobId>-s<setIndex>`. */
export function snapshotName(jobId: string, setIndex: number): string {
  return `${ARRAY_NAME_PREFIX}${jobId}-s${setIndex}`;
}

/** True when an array object name was made for job `jobId` (its snapshots and their presentations). */
export function isJobArrayName(name: string, jobId: string): boolean {
  return name.startsWith(`${ARRAY_NAME_PREFIX}${jobId}-`);
}

/** The presentation of a backup's array snapshot to the proxy: `<snapshot>-p`. */
export function presentationName(snapshot: string): string {
  return `${snapshot}-p`;
}

/** The presentation a restore makes of a restore point's retained snapshot (at most 120 characters). */
export function restorePresentationName(restorePointId: string): string {
  return `${ARRAY_NAME_PREFIX}restore-${restorePointId}`.slice(0, 120);
}

/** Where a repository keeps its job journals: `<repository>/.journal`. */
export function journalDir(repositoryPath: string): string {
  return join(repositoryPath, JOURNAL_FOLDER);
}

/** A job id that sorts by time and is safe in every array's object names: `YYYYMMDD-HHMMSS-xxxx`. */
export function newJobId(now = new Date()): string {
  const t = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '')
    .replace('T', '-');
  return `${t}-${randomBytes(2).toString('hex')}`;
}

/** The job id of a restore: its journal is kept beside the backups' (`restore-<jobId>`). */
export function restoreJobId(now = new Date()): string {
  return `restore-${newJobId(now)}`;
}
