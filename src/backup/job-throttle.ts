/**
 * One read-rate cap for a whole job (`policy.throttleBytesPerSec`), shared by every disk it copies
 * at once: each running copy reads at the cap divided by the number of copies running, asked
 * again before every read, so the job's total stays at the cap however many disks are in flight
 * (and a copy that ends leaves its share to the others). With workers, each worker process runs
 * its own job: the cap is then per proxy.
 */
export interface JobThrottle {
  /** A disk copy starts: its current rate in bytes/s (undefined: no cap), and `leave()` when it ends. */
  enter(): { rate: (() => number) | undefined; leave(): void };
}

/** A {@link JobThrottle} for `capBytesPerSec` (undefined or 0: no cap). */
export function jobThrottle(capBytesPerSec: number | undefined): JobThrottle {
  let running = 0;
  return {
    enter() {
      if (!capBytesPerSec) return { rate: undefined, leave: () => undefined };
      running++;
      let left = false;
      return {
        rate: () => capBytesPerSec / Math.max(running, 1),
        leave: () => {
          if (!left) running--;
          left = true;
        },
      };
    },
  };
}
