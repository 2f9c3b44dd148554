import { HvsnapError } from '../../src/core/errors.js';
import { pollJob } from './poll-job.js';
import type { Provider, SnapshotHandle } from './provider.js';

/**
 * Waits until a snapshot whose copy completes in the background (PowerMax SnapVX, FlashCopy; the
 * handle says `ready: false`) is usable, reporting progress (0–1) as it goes. Throws `timeout`
 * (retryable) after `timeoutMs` (default 1 h), `unsupported` when the provider cannot tell.
 */
export async function waitForSnapshotReady(args: {
  provider: Provider;
  handle: SnapshotHandle;
  /** ms (default 3 600 000) */
  timeoutMs?: number;
  onProgress?: (progress: number) => void;
  signal?: AbortSignal;
  /** first poll interval, ms (default 2 000, growing to 30 000) */
  intervalMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}): Promise<void> {
  const { provider, handle } = args;
  if (handle.ready !== false) return;
  const ask = provider.snapshotReady?.bind(provider);
  if (!ask) {
    throw new HvsnapError(
      'provider_error',
      `provider "${provider.name}" made snapshot ${handle.name} that is still copying but cannot say when it is ready (no snapshotReady)`,
      { context: { provider: provider.name, snapshot: handle.name, kind: 'unsupported' } },
    );
  }
  await pollJob({
    describe: `background copy of snapshot ${handle.name} on ${provider.name}`,
    fetch: async (signal) => {
      const r = await ask({ handle }, { signal });
      if (r.progress !== undefined) args.onProgress?.(r.progress);
      return r;
    },
    state: (r) => (r.ready ? 'success' : 'running'),
    timeoutMs: args.timeoutMs ?? 3_600_000,
    intervalMs: args.intervalMs ?? 2_000,
    maxIntervalMs: 30_000,
    signal: args.signal,
    sleep: args.sleep,
  });
}
