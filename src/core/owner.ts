import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/**
 * Who holds something that outlives a call (a lock, a job journal): the process, the host it runs
 * on, and the process start time so that a reused pid is not taken for the owner.
 */
export interface Owner {
  pid: number;
  /** `os.hostname()` of the owner; empty when not recorded (then taken as this host) */
  host: string;
  /** process start time in clock ticks since boot (/proc/<pid>/stat field 22); absent where unknown */
  startTicks?: string;
  /** distinguishes holders within one process; see {@link isStale}'s `held` */
  token?: string;
}

/**
 * The fields of /proc/<pid>/stat after the command name, from field 3 on (state, parent pid, ...),
 * or undefined (no /proc, or no such process).
 */
export async function processStat(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot, or undefined (no /proc, or no such process). */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  return (await processStat(pid))?.[19];
}

/** The owner record of this process, to store beside what it holds. */
export async function currentOwner(token?: string): Promise<Owner> {
  return { pid: process.pid, host: hostname(), startTicks: await processStartTicks(process.pid), ...(token !== undefined && { token }) };
}

/**
 * True when the owner is certainly gone, so what it holds may be taken over or undone (restic's
 * `lock.go` `Stale()` is the model). An owner on another host is never stale: it cannot be asked.
 * On this host: a pid that does not run is stale; a pid that runs with another start time is a
 * reused pid, stale; this process is stale only for a token that is not in `held` (a previous
 * incarnation's lock with the same pid). A pid we may not signal (EPERM) runs.
 */
export async function isStale(owner: Owner, held?: ReadonlySet<string>): Promise<boolean> {
  if (owner.host !== '' && owner.host !== hostname()) return false;
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return true;
  if (owner.pid === process.pid) return held !== undefined && owner.token !== undefined && !held.has(owner.token);
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return true;
  }
  if (owner.startTicks === undefined) return false;
  const now = await processStartTicks(owner.pid);
  return now !== undefined && now !== owner.startTicks;
}
