import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { Provider } from '../../providers/sdk/provider.js';

/** A counting semaphore that remembers the most holders it ever had (for reports and tests). */
export class Semaphore {
  private holders = 0;
  private readonly waiters: Array<() => void> = [];
  /** the highest number of holders at once */
  peak = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a concurrency limit must be a whole number ≥ 1, got ${limit}`);
  }

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holders >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    else this.holders++;
    this.peak = Math.max(this.peak, this.holders);
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.holders--;
    }
  }

}

/** What a limiter needs of a semaphore: in-process ({@link Semaphore}) or shared by workers (RedisSemaphore). */
export interface Slots {
  use<T>(fn: () => Promise<T>): Promise<T>;
}

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
  /** the slots of one host; default an in-process {@link Semaphore} of `limit` */
  slotsOf: (host: string) => Slots & { peak?: unknown } = () => new Semaphore(limit),
): { hypervisor: Hypervisor; peaks: () => Record<string, number> } {
  const sems = new Map<string, Slots & { peak?: unknown }>();
  const sem = (vmId: string | undefined) => {
    const host = (vmId && hostOf(vmId)) || '(unknown host)';
    let s = sems.get(host);
    if (!s) sems.set(host, (s = slotsOf(host)));
    return s;
  };
  const wrapped: Hypervisor = Object.create(h);
  const perVm = ['createCheckpoint', 'exportConfiguration', 'changedRanges', 'convertToReferencePoint', 'deleteCheckpoint', 'deleteReferencePoint', 'listReferencePoints'] as const;
  for (const m of perVm) {
    const original = (h[m] as (...a: unknown[]) => Promise<unknown>).bind(h);
    (wrapped as unknown as Record<string, unknown>)[m] = (args: { vmId?: string; checkpoint?: { vmId: string } }, opts?: unknown) =>
      sem(args.vmId ?? args.checkpoint?.vmId).use(() => original(args, opts));
  }
  return { hypervisor: wrapped, peaks: () => Object.fromEntries([...sems].flatMap(([k, s]) => (typeof s.peak === 'number' ? [[k, s.peak]] : []))) };
}

/** Wraps the provider so that at most the slots' limit of array calls run at once. */
export function limitProvider(p: Provider, sem: Slots): Provider {
  const wrapped: Provider = Object.create(p);
  for (const m of ['resolveVolumes', 'createSnapshot', 'listSnapshots', 'deleteSnapshot', 'present', 'unpresent'] as const) {
    const original = (p[m] as (...a: unknown[]) => Promise<unknown>).bind(p);
    (wrapped as unknown as Record<string, unknown>)[m] = (args: unknown, opts?: unknown) => sem.use(() => original(args, opts));
  }
  return wrapped;
}
