import { throwIfAborted } from '../../src/core/errors.js';
import { providerErrorKind } from './errors.js';
import { sleep as realSleep } from './retry-delay.js';

export interface BusyRetryOptions {
  /** what is being done, for the log */
  describe: string;
  /** attempts after the first (default 5) */
  retries?: number;
  /** first wait in ms (default 1 000), doubled each time with ±20 % jitter, capped at maxDelayMs (default 30 000) */
  minDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** told before each wait */
  onRetry?: (info: { attempt: number; waitMs: number; error: unknown }) => void;
}

/**
 * Runs `work` and repeats it while it fails with portable kind `busy` (an object locked by another
 * operation, a snapshot being created, an igroup being modified): the array said "not now", so
 * waiting helps. Any other error, or `busy` after the last retry, is rethrown unchanged. `work` MUST
 * be safe to repeat (a create by name, a delete of what may be gone).
 */
export async function retryWhileBusy<T>(work: () => Promise<T>, options: BusyRetryOptions): Promise<T> {
  const retries = options.retries ?? 5;
  const wait = options.sleep ?? realSleep;
  let delay = options.minDelayMs ?? 1_000;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      return await work();
    } catch (e) {
      if (providerErrorKind(e) !== 'busy' || attempt >= retries) throw e;
      const waitMs = Math.round(Math.min(delay, options.maxDelayMs ?? 30_000) * (0.8 + Math.random() * 0.4));
      options.onRetry?.({ attempt: attempt + 1, waitMs, error: e });
      await wait(waitMs, options.signal);
      delay *= 2;
    }
  }
}
