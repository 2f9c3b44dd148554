import { it, expect } from 'vitest';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/backup-job.js';
import { readOpenJournals } from '../../src/backup/journal.js';
import { makeLabEnv } from '../helpers/lab-env.js';
import { HvsnapError } from '../../src/core/errors.js';

it('a failed undo of set 1 stays in the journal after set 2 runs', async () => {
  const env = await makeLabEnv({ vms: 2, volumes: 2, diskSizeBytes: 8 << 20, dataBytes: 1 << 20 });
  const p = env.provider;
  const wrapped = Object.create(p);
  wrapped.unpresent = async (args: { name: string }, o: unknown) => {
    if (args.name.endsWith('-s1-p')) throw new HvsnapError('provider_error', `cannot unpresent ${args.name}`);
    return p.unpresent(args, o as never);
  };
  env.provider = wrapped;
  await runBackup(env, { jobId: 'job1' });
  const open = await readOpenJournals(join(env.repository.path, '.journal'));
  const pending = open.flatMap((j) => j.pending.map((x) => x.record));
  expect(pending).toContainEqual({ kind: 'unpresent', name: 'hvsnap-job1-s1-p' });
  await env.cleanup();
});
