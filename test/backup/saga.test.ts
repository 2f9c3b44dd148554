import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Journal, readOpenJournals } from '../../src/backup/journal.js';
import { Saga } from '../../src/backup/saga.js';
import type { UndoRecord, UndoTargets } from '../../src/backup/undo.js';
import { HvsnapError, isHvsnapError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/core/logger.js';

/** Targets that record what was undone, in order; `failing` kinds throw. */
function recorder(failing: string[] = []) {
  const done: string[] = [];
  const make = (kind: string) => async (args: Record<string, string>) => {
    if (failing.includes(kind)) throw new HvsnapError('provider_error', `cannot ${kind}`);
    done.push(`${kind}:${Object.values(args)[0]}`);
  };
  const targets = {
    hypervisor: { deleteCheckpoint: make('deleteCheckpoint'), deleteReferencePoint: make('deleteReferencePoint') },
    provider: { deleteSnapshot: make('deleteSnapshot'), unpresent: make('unpresent') },
    proxy: { detach: make('detach') },
    abortRestorePoint: async (id: string) => void done.push(`abort:${id}`),
  } as unknown as UndoTargets;
  return { targets, done };
}

const cp: UndoRecord = { kind: 'deleteCheckpoint', vmId: 'v1', vmName: 'vm-01', checkpointId: 'c1' };
const snap: UndoRecord = { kind: 'deleteSnapshot', name: 's1' };
const pres: UndoRecord = { kind: 'unpresent', name: 'p1' };

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'hvsnap-saga-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('Saga', () => {
  it('undoes in reverse order and rethrows the original error with its step', async () => {
    const { targets, done } = recorder();
    const saga = new Saga(targets, Journal.none(), captureLogger());
    await saga.register(cp);
    await saga.register(snap);
    await saga.register(pres);
    const original = await saga
      .step('attach', { vm: 'vm-01' }, async () => {
        throw new Error('device busy');
      })
      .catch((e) => e);
    const err = await saga.fail(original);
    expect(done).toEqual(['unpresent:p1', 'deleteSnapshot:s1', 'deleteCheckpoint:v1']);
    expect(isHvsnapError(err) && err.message).toBe('device busy');
    expect(err.context).toMatchObject({ step: 'attach', vm: 'vm-01' });
    expect(err.suppressed).toEqual([]);
  });

  it('goes on past an undo that fails, attaches it, and keeps it in the journal for cleanup', async () => {
    const { targets, done } = recorder(['deleteSnapshot']);
    const logger = captureLogger();
    const journal = await Journal.open(dir, 'job-1');
    const saga = new Saga(targets, journal, logger);
    await saga.register(cp);
    await saga.register(snap);
    await saga.register(pres);
    const err = await saga.fail(new HvsnapError('step_failed', 'copy failed', { context: { step: 'copy' } }));
    expect(done).toEqual(['unpresent:p1', 'deleteCheckpoint:v1']);
    expect(err.message).toBe('copy failed');
    expect(err.suppressed).toHaveLength(1);
    expect(String((err.suppressed[0] as Error).message)).toContain('deleteSnapshot');
    expect(logger.lines.some((l) => l.level === 'error' && /delete array snapshot s1/.test(l.msg ?? ''))).toBe(true);
    const open = await readOpenJournals(dir);
    expect(open).toHaveLength(1);
    expect(open[0].pending.map((p) => p.record)).toEqual([snap]);
  });

  it('settled undos are not run, and a journal survives a torn last line', async () => {
    const { targets, done } = recorder();
    const journal = await Journal.open(dir, 'job-2');
    const saga = new Saga(targets, journal, captureLogger());
    const a = await saga.register(cp);
    await saga.register(snap);
    await saga.settle(a);
    // the process dies here: the journal still owes the snapshot
    await (await import('node:fs/promises')).appendFile(join(dir, 'job-2.jsonl'), '{"t":"undo","id":9,"rec');
    const open = await readOpenJournals(dir);
    expect(open[0].pending.map((p) => p.record)).toEqual([snap]);
    await saga.compensate();
    expect(done).toEqual(['deleteSnapshot:s1']);
    expect(await readFile(join(dir, 'job-2.jsonl'), 'utf8')).toContain('"t":"done"');
  });

  it('an undo whose journal entry cannot be written is still undone by this process; one that then fails is named as not in the journal', async () => {
    for (const failing of [[], ['unpresent']]) {
      const { targets, done } = recorder(failing);
      const logger = captureLogger();
      const journal = await Journal.open(dir, `job-w${failing.length}`);
      const saga = new Saga(targets, journal, logger);
      await saga.register(cp);
      await saga.register(snap);
      const write = journal.append.bind(journal);
      // the disk fills as the presentation's undo is journaled (after the presentation was made)
      vi.spyOn(journal, 'append').mockImplementation(async (entry) => {
        if (entry.t === 'undo' && entry.record.kind === 'unpresent') throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return write(entry);
      });
      await expect(saga.register(pres)).rejects.toThrow(/ENOSPC/);
      const err = await saga.fail(new Error('ENOSPC: no space left on device'));
      expect(done).toEqual([...(failing.length ? [] : ['unpresent:p1']), 'deleteSnapshot:s1', 'deleteCheckpoint:v1']);
      expect(err.suppressed).toHaveLength(failing.length);
      expect(saga.leftBehind).toEqual(failing.length ? [pres] : []);
      if (failing.length)
        expect(logger.lines.some((l) => l.level === 'error' && /unpresent p1.*could not record it either.*by hand/.test(l.msg ?? ''))).toBe(true);
      // the journal owes nothing: what it held is done, and it never held the presentation
      expect((await readOpenJournals(dir)).find((j) => j.jobId === `job-w${failing.length}`)?.pending).toEqual([]);
    }
  });

  it('an undo done whose "done" entry cannot be written costs no other undo, and is reported', async () => {
    const { targets, done } = recorder();
    const logger = captureLogger();
    const journal = await Journal.open(dir, 'job-d');
    const saga = new Saga(targets, journal, logger);
    await saga.register(cp);
    await saga.register(snap);
    const p = await saga.register(pres);
    const write = journal.append.bind(journal);
    vi.spyOn(journal, 'append').mockImplementation(async (entry) => {
      if (entry.t === 'done' && entry.id === p) throw new Error('EIO: i/o error, write');
      return write(entry);
    });
    const failures = await saga.compensate('teardown');
    expect(done).toEqual(['unpresent:p1', 'deleteSnapshot:s1', 'deleteCheckpoint:v1']);
    expect(failures.map((f) => (f as Error).message)).toEqual(['EIO: i/o error, write']);
    expect(saga.leftBehind).toEqual([]);
    expect(logger.lines.some((l) => l.level === 'error' && /unpresent p1: done, but the job journal could not record that/.test(l.msg ?? ''))).toBe(true);
    // the journal still lists the presentation, which cleanup would find already undone
    expect((await readOpenJournals(dir))[0].pending.map((u) => u.record)).toEqual([pres]);
  });
});
