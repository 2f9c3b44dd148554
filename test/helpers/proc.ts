import { readFileSync } from 'node:fs';
import { processStat } from '../../src/core/owner.js';

/** The pids whose parent is `pid` (Linux: /proc/<pid>/task/<pid>/children); none when it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The parent of process `pid`, or 0 when it is gone. */
export async function parentOf(pid: number): Promise<number> {
  return Number((await processStat(pid))?.[1] ?? 0);
}

/** True while `pid` runs (a zombie, dead and not yet reaped, does not). */
export async function running(pid: number): Promise<boolean> {
  const state = (await processStat(pid))?.[0];
  return state !== undefined && state !== 'Z';
}
