import { it, expect } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, readOpenJournals } from '../../src/backup/journal.js';
import { Saga } from '../../src/backup/saga.js';
import { silentLogger } from '../../src/core/logger.js';

it('two sagas (volume sets) sharing one job journal', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rev-'));
  const j = await Journal.open(dir, 'job');
  const t = {} as never;
  const s1 = new Saga(t, j, silentLogger);
  const s2 = new Saga(t, j, silentLogger);
  // sets run concurrently (batch default sets: 2)
  const a = await s1.register({ kind: 'deleteCheckpoint', vmId: 'A', vmName: 'vm-a', checkpointId: 'cA' });
  await s2.register({ kind: 'deleteCheckpoint', vmId: 'C', vmName: 'vm-c', checkpointId: 'cC' });
  await s1.settle(a); // set 1 converted vm-a
  // the process dies here: set 2 still owes vm-c's checkpoint
  const open = await readOpenJournals(dir);
  expect(open[0].pending.map((p) => p.record)).toContainEqual({ kind: 'deleteCheckpoint', vmId: 'C', vmName: 'vm-c', checkpointId: 'cC' });
});
