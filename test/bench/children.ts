import type { ChildProcess } from 'node:child_process';

/** Children of the bench still running (workers and peers), so an interrupted bench can end them. */
const live = new Set<ChildProcess>();

/** Tracks a child until it exits. */
export function track<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Sends SIGTERM to every child still running (each by its own pid). */
export function endChildren(): void {
  for (const child of live) child.kill('SIGTERM');
}
