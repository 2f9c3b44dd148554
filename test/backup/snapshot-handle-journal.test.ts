import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { journalDir } from '../../src/core/names.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

/** Journal lines of every job journal in the repository. */
async function journalLines(repo: string): Promise<Array<Record<string, any>>> {
  const dir = journalDir(repo);
  const out: Array<Record<string, any>> = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n').filter(Boolean)) out.push(JSON.parse(line));
  }
  return out;
}

describe('the snapshot handle in the journal and the manifest', () => {
  it('journals the delete of the snapshot by name before the create and by its handle after; the manifest keeps the handle', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
    let seen: Array<Record<string, any>> = [];
    const report = await runBackup(env, {
      policy: { mode: 'snapshot-only' },
      hooks: {
        beforeStep: async (step) => {
          if (step === 'export') seen = await journalLines(env!.repository.path);
        },
      },
    });
    expect(report.ok).toBe(true);
    const deletes = seen.filter((l) => l.t === 'undo' && l.record.kind === 'deleteSnapshot');
    expect(deletes.map((l) => (l.record.handle ? 'handle' : 'name'))).toEqual(['name', 'handle']);
    const done = new Set(seen.filter((l) => l.t === 'done').map((l) => l.id));
    expect(done.has(deletes[0]!.id)).toBe(true); // the name-only record is settled once the handle is journaled
    const handle = deletes[1]!.record.handle;
    const manifest = await env.repository.getRestorePoint(report.vms[0]!.restorePointId!);
    expect(manifest.arraySnapshots[0]!.handle).toEqual(handle);
    expect(handle).toMatchObject({ name: report.sets[0]!.snapshot, volumes: [{ volumeId: expect.any(String), snapshotId: expect.any(String) }] });
  });
});
