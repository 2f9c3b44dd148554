import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Makes the jobs journaled in `dir` look as if their process died (a crash or kill -9): the
 * journal's owner becomes the pid of a process that has exited. The job itself, hung in this test
 * process, never touches anything again.
 */
export async function killJournalOwners(dir: string): Promise<number> {
  const dead = spawnSync('true').pid!;
  let n = 0;
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.jsonl'))) {
    const file = join(dir, f);
    const lines = (await readFile(file, 'utf8')).split('\n');
    const start = JSON.parse(lines[0]);
    lines[0] = JSON.stringify({ ...start, pid: dead });
    await writeFile(file, lines.join('\n'));
    n++;
  }
  return n;
}

/** The same for the job leases in `<repository>/.leases`: their owner becomes a pid that has exited. */
export async function killLeaseOwners(repositoryPath: string): Promise<number> {
  const dead = spawnSync('true').pid!;
  const dir = join(repositoryPath, '.leases');
  let n = 0;
  for (const f of (await readdir(dir).catch(() => [])).filter((x) => x.endsWith('.json'))) {
    const file = join(dir, f);
    const lease = JSON.parse(await readFile(file, 'utf8'));
    // a new token too: the hung run's renewal timer must not write its live pid back
    await writeFile(file, JSON.stringify({ ...lease, pid: dead, token: 'dead' }));
    n++;
  }
  return n;
}
