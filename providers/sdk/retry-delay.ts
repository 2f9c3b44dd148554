/**
 * How long a server asked us to wait before repeating a request, from `Retry-After` (seconds or an
 * HTTP date) or rate-limit headers: Pure's `X-RateLimit-Remaining-second|minute` (0 means the window
 * is used up: wait 1 s or 60 s), or the common `X-RateLimit-Reset` (seconds until the window resets,
 * or an epoch time in seconds). Undefined when no header says anything. Result in ms.
 */
export function retryAfterMs(headers: Record<string, string | undefined>, nowMs: number = Date.now()): number | undefined {
  const h = (name: string) => headers[name.toLowerCase()];
  const retryAfter = h('retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - nowMs);
  }
  if (h('x-ratelimit-remaining-minute') === '0') return 60_000;
  if (h('x-ratelimit-remaining-second') === '0') return 1_000;
  const reset = Number(h('x-ratelimit-reset'));
  if (h('x-ratelimit-remaining') === '0' && Number.isFinite(reset)) {
    // small numbers are a delay in seconds, large ones an epoch time in seconds
    return Math.max(0, reset > 1e9 ? reset * 1000 - nowMs : reset * 1000);
  }
  return undefined;
}

/** Waits `ms`, or rejects when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
