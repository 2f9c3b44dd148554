import { access, readFile, writeFile } from 'node:fs/promises';
import { withFileLock } from './file-lock.js';

/**
 * A gauge of calls in flight that every process sharing `file` adds to: each counted call raises
 * `now[key]` on entry and lowers it on exit, and `peak[key]` keeps the highest value seen. The lab
 * host and array use it so that a test can read, from the simulated system itself, how many
 * operations several worker processes ran on it at once. Counting is on only where `file` exists
 * (a test creates it with `{}`), so ordinary lab runs pay nothing.
 */
export interface InFlightCounts {
  now: Record<string, number>;
  peak: Record<string, number>;
}

const enabled = new Map<string, Promise<boolean>>();

/** Runs `fn`, counted under `key` in `file` when that file exists. */
export async function countInFlight<T>(file: string, key: string, fn: () => Promise<T>): Promise<T> {
  let on = enabled.get(file);
  if (!on) enabled.set(file, (on = access(file).then(() => true, () => false)));
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
  await withFileLock(`${file}.lock`, async () => {
    const c = await readInFlight(file);
    c.now[key] = (c.now[key] ?? 0) + by;
    c.peak[key] = Math.max(c.peak[key] ?? 0, c.now[key]);
    await writeFile(file, JSON.stringify(c));
  }, { what: `the call counter ${file}` });
}
