import { HvsnapError, errorSummary, toHvsnapError, type ErrorContext } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Journal } from './journal.js';
import { describeUndo, runUndo, type UndoRecord, type UndoTargets } from './undo.js';

/** Who an undo belongs to (a VM's id, or undefined for the volume set) and the step that registered it. */
export interface UndoKey {
  owner?: string;
  step?: string;
}

/** The undo owner of set-wide steps (a per-item step's owner is the item's id). */
export const SET_OWNER = '(set)';

/** An undo this saga owes: `journaled` once the job journal holds it. */
interface Undo {
  id: number;
  record: UndoRecord;
  key: UndoKey;
  journaled: boolean;
}

/**
 * Compensation for one volume set (or one restore). Every undo is appended to the job journal when
 * it is registered: after its side effect where the side effect cannot outlive a failed call, and
 * *before* the side effect where it can (a snapshot or presentation whose create timed out late),
 * because a backup process can be killed (Temporal's saga registers after success only; we go
 * further). On failure the undos run newest first, without the job's signal (a cancelled job must
 * still clean up); each undo failure is logged, attached to the original error, and kept in the
 * journal for `hvsnap cleanup`.
 */
export class Saga {
  private readonly undos: Undo[] = [];
  /** undos that failed: they stay in the journal for `hvsnap cleanup` */
  readonly failed: UndoRecord[] = [];

  constructor(
    private readonly targets: UndoTargets,
    private readonly journal: Journal,
    private readonly logger: Logger,
  ) {}

  /** Runs a step; a failure becomes an HvsnapError carrying the step name and context. */
  async step<T>(name: string, context: ErrorContext, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw toHvsnapError(e, 'step_failed', { step: name, ...context });
    }
  }

  /**
   * Journals the undo of a side effect (made, or about to be made); returns a handle to settle it early.
   * The undo is this saga's before its journal entry is written: if the write fails (a full or failing
   * disk), that error is thrown and this process still runs the undo when it compensates. That is
   * safe either way: a record journaled after its side effect names something that exists, and one
   * journaled before is written to run whether or not the side effect happened (undo.ts).
   */
  async register(record: UndoRecord, key: UndoKey = {}): Promise<number> {
    const undo: Undo = { id: this.journal.allocateId(), record, key, journaled: false };
    this.undos.push(undo);
    await this.journal.append({ t: 'undo', id: undo.id, record });
    undo.journaled = true;
    return undo.id;
  }

  /** The ids of the registered undos that match `key` (every field given must be equal), oldest first. */
  idsOf(key: UndoKey): number[] {
    return this.undos
      .filter((u) => (key.owner === undefined || u.key.owner === key.owner) && (key.step === undefined || u.key.step === key.step))
      .map((u) => u.id);
  }

  /** The side effect was undone or made permanent by the normal flow: forget its undo. */
  async settle(id: number): Promise<void> {
    await this.settleAll([id]);
  }

  /**
   * Settles several at once: all are forgotten before any "done" entry is written, so a write that
   * fails part-way leaves none of them for this process to undo (each was made permanent).
   */
  async settleAll(ids: number[]): Promise<void> {
    const undos = ids.map((id) => this.undos.find((u) => u.id === id));
    for (const u of undos) if (u) this.undos.splice(this.undos.indexOf(u), 1);
    // an undo the journal never got needs no entry to close it
    for (const [i, id] of ids.entries()) if (undos[i]?.journaled !== false) await this.journal.append({ t: 'done', id });
  }

  /** Runs an undo now, as part of the normal flow (e.g. a failed VM's checkpoint). A failure is recorded and rethrown. */
  async undoNow(id: number): Promise<void> {
    const u = this.undos.find((x) => x.id === id);
    if (!u) return;
    try {
      const note = await runUndo(u.record, this.targets);
      if (note) this.logger.warn({ undo: u.record.kind }, note);
    } catch (e) {
      this.giveUp(u, e);
      throw e;
    }
    await this.settle(id);
  }

  /**
   * Undoes everything still registered, newest first; never throws. Returns the undo failures.
   * `teardown`: the normal end of a job that succeeded (unpresent, delete the snapshot), logged as
   * such; `rollback` (the default): undoing after a failure, logged as "compensated".
   */
  async compensate(why: 'rollback' | 'teardown' = 'rollback'): Promise<unknown[]> {
    const failures: unknown[] = [];
    while (this.undos.length) {
      const u = this.undos[this.undos.length - 1];
      let note: string | undefined;
      try {
        note = await runUndo(u.record, this.targets);
      } catch (e) {
        this.giveUp(u, e);
        failures.push(e);
        continue;
      }
      // a note: nothing could be undone, only named for the operator
      if (note) this.logger.warn({ undo: u.record.kind }, note);
      else if (why === 'teardown') this.logger.debug({ teardown: u.record.kind }, `teardown: ${describeUndo(u.record)}`);
      else this.logger.info({ undo: u.record.kind }, `compensated: ${describeUndo(u.record)}`);
      try {
        await this.settle(u.id);
      } catch (e) {
        // done, but the journal still lists it: "hvsnap cleanup" would run it again, which finds nothing to do
        this.logger.error({ undo: u.record.kind, error: errorSummary(e) }, `${describeUndo(u.record)}: done, but the job journal could not record that`);
        failures.push(e);
      }
    }
    return failures;
  }

  /** An undo that failed: this saga forgets it and reports it as left behind, with where it is still written down. */
  private giveUp(u: Undo, e: unknown): void {
    this.undos.splice(this.undos.indexOf(u), 1);
    this.failed.push(u.record);
    this.logger.error(
      { undo: u.record.kind, error: errorSummary(e) },
      u.journaled
        ? `could not ${describeUndo(u.record)}; it stays in the job journal for "hvsnap cleanup"`
        : `could not ${describeUndo(u.record)}, and the job journal could not record it either: "hvsnap cleanup" will not find it; do it by hand`,
    );
  }

  /** Compensates, attaches the undo failures to the original error, and returns it for rethrow. */
  async fail(original: unknown, context: ErrorContext = {}): Promise<HvsnapError> {
    const err = toHvsnapError(original, 'step_failed', context);
    const failures = await this.compensate();
    err.suppressed.push(...failures);
    return err;
  }

  /** what this saga still owes: undos not yet run, and undos that failed */
  get leftBehind(): UndoRecord[] {
    return [...this.undos.map((u) => u.record), ...this.failed];
  }
}
