import pLimit from 'p-limit';
import pMap from 'p-map';

/**
 * Concurrency from one maintained library (p-limit / p-map, as restic takes Go's errgroup), never a
 * hand-made pool. A {@link Limit} runs at most `concurrency` functions at once and remembers the
 * most it ever ran (for reports and tests).
 */
export interface Limit {
  <T>(fn: () => Promise<T>): Promise<T>;
  readonly concurrency: number;
  /** the most functions that ran at once */
  readonly peak: number;
}

/** A limit of `concurrency` (a whole number ≥ 1; anything else is a RangeError naming it). */
export function createLimit(concurrency: number): Limit {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`a concurrency limit must be a whole number ≥ 1, got ${concurrency}`);
  const limit = pLimit(concurrency);
  let peak = 0;
  const run = <T>(fn: () => Promise<T>): Promise<T> =>
    limit(() => {
      peak = Math.max(peak, limit.activeCount);
      return fn();
    });
  return Object.defineProperties(run, {
    concurrency: { value: concurrency },
    peak: { get: () => peak },
  }) as Limit;
}

/**
 * Runs `fn` over `items`, at most `concurrency` at once. Every item is started unless one fails:
 * then no new item starts, the ones running finish, and the first error is thrown (p-map with
 * `stopOnError`). For "every item runs, failures collected" pass `stopOnError: false` and get an
 * AggregateError.
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
  opts: { stopOnError?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  await pMap(items, fn, { concurrency: Math.max(1, concurrency), stopOnError: opts.stopOnError ?? true, signal: opts.signal });
}
