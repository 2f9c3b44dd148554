import { HOST_OPERATIONS, type Hypervisor } from '../hyperv/hypervisor.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { createLimit, type Limit } from '../core/concurrency.js';

/** Concurrency limits of a backup run; every one optional (no limit). */
export interface ConcurrencyLimits {
  /** volume sets in flight at once */
  sets?: number;
  /** host operations (checkpoint, export, changed ranges, convert) in flight per Hyper-V host */
  perHost?: number;
  /** array operations in flight on the array */
  perArray?: number;
  /** disks being copied at once through the proxy */
  perProxy?: number;
}

export interface LimitStats {
  sets: number;
  perHost: Record<string, number>;
  perArray: number;
  perProxy: number;
}

/**
 * Wraps the hypervisor so that at most `limit` calls run at once per host (the VM's owner node).
 * A decorator: the hypervisor itself is not changed.
 */
export function limitHypervisor(
  h: Hypervisor,
  hostOf: (vmId: string) => string | undefined,
  limit: number,
  /** the limit of one host; default in-process (a distributed batch passes one shared through Redis) */
  limitFor: (host: string) => Limit = () => createLimit(limit),
): { hypervisor: Hypervisor; peaks: () => Record<string, number> } {
  const limits = new Map<string, Limit>();
  const limitOf = (vmId: string | undefined) => {
    const host = (vmId && hostOf(vmId)) || '(unknown host)';
    let l = limits.get(host);
    if (!l) limits.set(host, (l = limitFor(host)));
    return l;
  };
  const wrapped: Hypervisor = Object.create(h);
  for (const m of HOST_OPERATIONS) {
    const original = (h[m] as (...a: unknown[]) => Promise<unknown>).bind(h);
    (wrapped as unknown as Record<string, unknown>)[m] = (args: { vmId?: string; checkpoint?: { vmId: string } }, opts?: unknown) =>
      limitOf(args.vmId ?? args.checkpoint?.vmId)(() => original(args, opts));
  }
  return { hypervisor: wrapped, peaks: () => Object.fromEntries([...limits].map(([k, l]) => [k, l.peak])) };
}

/** Wraps the provider so that at most `limit.concurrency` array calls run at once. */
export function limitProvider(p: Provider, limit: Limit): Provider {
  const wrapped: Provider = Object.create(p);
  for (const m of ['resolveVolumes', 'createSnapshot', 'listSnapshots', 'deleteSnapshot', 'present', 'unpresent'] as const) {
    const original = (p[m] as (...a: unknown[]) => Promise<unknown>).bind(p);
    (wrapped as unknown as Record<string, unknown>)[m] = (args: unknown, opts?: unknown) => limit(() => original(args, opts));
  }
  return wrapped;
}
