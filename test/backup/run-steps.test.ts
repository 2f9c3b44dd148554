import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLimit } from '../../src/core/concurrency.js';
import { silentLogger } from '../../src/core/logger.js';
import { Journal, readOpenJournals } from '../../src/backup/journal.js';
import { runSteps, type StepRun } from '../../src/backup/run-steps.js';
import { Saga } from '../../src/backup/saga.js';
import type { SetStep, VmStep } from '../../src/backup/steps/step.js';
import type { UndoRecord, UndoTargets } from '../../src/backup/undo.js';

interface Item {
  id: string;
  failed: boolean;
  step?: string;
}

let dir: string;
afterEach(async () => rm(dir, { recursive: true, force: true }));

/** A runner over fake targets that record every undo they carry out. */
async function harness(items: Item[]) {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-runner-'));
  const undone: string[] = [];
  const record = (what: string) => async (args: { name?: string; vmId?: string }) => void undone.push(`${what}:${args.name ?? args.vmId}`);
  const targets = {
    hypervisor: { deleteCheckpoint: record('deleteCheckpoint') },
    provider: { deleteSnapshot: record('deleteSnapshot'), unpresent: record('unpresent') },
    proxy: { detach: async () => void undone.push('detach') },
    abortRestorePoint: async () => {},
  } as unknown as UndoTargets;
  const journal = await Journal.open(dir, 'job');
  const saga = new Saga(targets, journal, silentLogger);
  const run: StepRun<object, Item> = {
    state: {},
    items,
    itemOf: (i) => ({ owner: i.id, label: i.id, failed: i.failed }),
    failItem: (i, step) => Object.assign(i, { failed: true, step }),
    saga,
    log: silentLogger,
    slots: () => createLimit(2),
  };
  return { run, undone, saga };
}

const snapshot = (fail = false): SetStep<object> => ({
  name: 'snapshot',
  scope: 'set',
  undo: { journaled: 'before', record: (): UndoRecord => ({ kind: 'deleteSnapshot', name: 'snap' }) },
  async run() {
    if (fail) throw new Error('timed out after the array made it');
  },
});
const checkpoint = (failFor?: string): VmStep<object, Item> => ({
  name: 'checkpoint',
  scope: 'vm',
  slots: 'host',
  undo: { journaled: 'after', record: (_s, i): UndoRecord => ({ kind: 'deleteCheckpoint', vmId: i.id, vmName: i.id, checkpointId: `cp-${i.id}` }) },
  async run(_s, i) {
    if (i.id === failFor) throw new Error(`no checkpoint for ${i.id}`);
  },
});
const convert = (failFor?: string): VmStep<object, Item> => ({
  name: 'convert',
  scope: 'vm',
  slots: 'host',
  settles: ['checkpoint'],
  async run(_s, i) {
    if (i.id === failFor) throw new Error(`convert failed for ${i.id}`);
  },
});

describe('runSteps', () => {
  it('journals a "before" undo ahead of the side effect: a set step that fails late is still undone', async () => {
    const { run, undone } = await harness([{ id: 'a', failed: false }]);
    const error = await runSteps(run, [checkpoint(), snapshot(true)]);
    expect(error?.context.step).toBe('snapshot');
    // everything is undone newest first: the snapshot (journaled before its failed create), then the checkpoint
    expect(undone).toEqual(['deleteSnapshot:snap', 'deleteCheckpoint:a']);
    expect(run.items[0]).toMatchObject({ failed: true, step: 'snapshot' });
  });

  it('a per-item failure undoes that item only; the others go on, and what a step settles is not undone', async () => {
    const items = [
      { id: 'a', failed: false },
      { id: 'b', failed: false },
    ];
    const { run, undone } = await harness(items);
    const error = await runSteps(run, [checkpoint(), snapshot(), convert('b')]);
    expect(error).toBeUndefined();
    expect(items).toEqual([
      { id: 'a', failed: false },
      { id: 'b', failed: true, step: 'convert' },
    ]);
    // b's checkpoint went when b failed; a's was settled by convert; at the end the set's snapshot is undone (step 8)
    expect(undone).toEqual(['deleteCheckpoint:b', 'deleteSnapshot:snap']);
    const open = await readOpenJournals(dir);
    expect(open[0].pending).toEqual([]);
  });

  it('stops before set steps when every item failed', async () => {
    const { run, undone } = await harness([{ id: 'a', failed: false }]);
    let ran = false;
    const error = await runSteps(run, [checkpoint('a'), { ...snapshot(), run: async () => void (ran = true) }]);
    expect(error).toBeUndefined();
    expect(ran).toBe(false);
    expect(undone).toEqual([]);
  });
});
