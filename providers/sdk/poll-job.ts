import { HvsnapError, throwIfAborted } from '../../src/core/errors.js';
import { sleep as realSleep } from './retry-delay.js';

/** Where an async job stands. */
export type JobState = 'running' | 'success' | 'failure';

export interface PollJobArgs<J> {
  /** what the job does, for the timeout message, e.g. `ONTAP job 1a2b (snapshot vol1)` */
  describe: string;
  /** reads the job once */
  fetch: (signal?: AbortSignal) => Promise<J>;
  /** the vendor's state mapped to ours */
  state: (job: J) => JobState;
  /** give up after this many ms (default 120 000) */
  timeoutMs?: number;
  /** first wait in ms (default 500), grown ×1.5 with ±10 % jitter up to maxIntervalMs (default 5 000) */
  intervalMs?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
  /** for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/**
 * Polls an async job until it reaches a terminal state and returns the last job read with that
 * state; the caller turns a `failure` into its vendor error. Throws `timeout` (retryable) when the
 * job is still running after `timeoutMs`, `aborted` when the signal fires.
 */
export async function pollJob<J>(args: PollJobArgs<J>): Promise<{ job: J; state: Exclude<JobState, 'running'> }> {
  const now = args.now ?? Date.now;
  const wait = args.sleep ?? realSleep;
  const timeoutMs = args.timeoutMs ?? 120_000;
  const deadline = now() + timeoutMs;
  let interval = args.intervalMs ?? 500;
  const max = args.maxIntervalMs ?? 5_000;
  for (;;) {
    throwIfAborted(args.signal);
    const job = await args.fetch(args.signal);
    const state = args.state(job);
    if (state !== 'running') return { job, state };
    if (now() >= deadline) {
      throw new HvsnapError('timeout', `${args.describe} still running after ${timeoutMs} ms`, { retryable: true, context: { timeoutMs } });
    }
    const jitter = 1 + (Math.random() * 0.2 - 0.1);
    await wait(Math.min(interval * jitter, Math.max(0, deadline - now())), args.signal);
    interval = Math.min(interval * 1.5, max);
  }
}
