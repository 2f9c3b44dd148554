import { access, readFile, rename, writeFile } from 'node:fs/promises';
import { withFileLock } from './file-lock.js';
import { isStale } from './owner.js';

/**
 * A gauge of calls in flight that every process sharing `file` adds to: each counted call raises
 * `now[key]` on entry and lowers it on exit, and `peak[key]` keeps the highest value seen. The lab
 * host and array use it so that a test can read, from the simulated system itself, how many
 * operations several worker processes ran on it at once. Counting is on only where `file` exists
 * (a test creates it with `{}`), so ordinary lab runs pay nothing.
 */
export interface InFlightCounts {
  /** calls in flight per key and process id: a process that died (SIGKILL) mid-call stops counting */
  now: Record<string, Record<string, number>>;
  peak: Record<string, number>;
}

const enabled = new Map<string, Promise<boolean>>();

/** Runs `fn`, counted under `key` in `file` when that file exists. */
export async function countInFlight<T>(file: string, key: string, fn: () => Promise<T>): Promise<T> {
  let on = enabled.get(file);
  if (!on)
    enabled.set(
      file,
      (on = access(file).then(
        () => true,
        () => false,
      )),
    );
  if (!(await on)) return fn();
  await change(file, key, +1);
  try {
    return await fn();
  } finally {
    await change(file, key, -1);
  }
}

/** The counts in `file` (empty when counting is off). */
export async function readInFlight(file: string): Promise<InFlightCounts> {
  try {
    const c = JSON.parse(await readFile(file, 'utf8')) as Partial<InFlightCounts>;
    return { now: c.now ?? {}, peak: c.peak ?? {} };
  } catch {
    return { now: {}, peak: {} };
  }
}

async function change(file: string, key: string, by: number): Promise<void> {
  await withFileLock(
    `${file}.lock`,
    async () => {
      const c = await readInFlight(file);
      const perPid = (c.now[key] ??= {});
      perPid[process.pid] = (perPid[process.pid] ?? 0) + by;
      for (const pid of Object.keys(perPid)) {
        if (perPid[pid] <= 0 || (await isStale({ pid: Number(pid), host: '' }))) delete perPid[pid];
      }
      c.peak[key] = Math.max(
        c.peak[key] ?? 0,
        Object.values(perPid).reduce((a, b) => a + b, 0),
      );
      // atomic: a process killed while writing leaves the previous counts, never a torn file
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(c));
      await rename(tmp, file);
    },
    { what: `the call counter ${file}` },
  );
}
