import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from '../../src/lab/index.js';
import { writeLabJob } from '../helpers/lab-job-config.js';
import { cli } from './run-cli.js';

/**
 * A one-VM lab with a job configuration beside it (`policy` merged in), backed up once through
 * the CLI: what the restore-side CLI tests start from.
 */
export async function labJobBackedUp(
  policy: Record<string, unknown> = {},
): Promise<{ dir: string; file: string; restorePoint: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-cli-'));
  await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
  const file = await writeLabJob(dir, Object.keys(policy).length ? { policy } : {});
  const b = await cli('backup', '--config', file, '--json');
  if (b.code !== 0) throw new Error(`backup failed: ${b.stderr}`);
  return { dir, file, restorePoint: JSON.parse(b.stdout).vms[0].restorePointId as string, remove: () => rm(dir, { recursive: true, force: true }) };
}
