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
 * Runs `fn` over `items`, at most `concurrency` at once. After a failure no further item starts;
 * the ones running finish; then the first error is thrown.
 */
export async function forEachLimit<T>(items: Iterable<T>, concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(Math.max(1, concurrency));
  let failed: { error: unknown } | undefined;
  await Promise.all(
    Array.from(items, (item) =>
      limit(async () => {
        if (failed) return;
        await fn(item).catch((error: unknown) => void (failed ??= { error }));
      }),
    ),
  );
  if (failed) throw failed.error;
}

/** `fn` over `items`, at most `concurrency` at once, the results in order; the first failure rejects (p-map). */
export function mapLimit<T, R>(items: Iterable<T>, concurrency: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  return pMap(items, fn, { concurrency: Math.max(1, concurrency), signal });
}
